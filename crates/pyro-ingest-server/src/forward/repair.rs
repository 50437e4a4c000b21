//! The repairs Grafana Pyroscope's `/ingest` makes to a pprof upload before it stores it
//! (`ParseToPprof`, pkg/og/convert/pprof/profile.go), made here before a pprof is forwarded over
//! push, which does not make them: .NET profiles get function ids and sample type names GP's
//! validation accepts, and scripting-language profiles get `file function` names.

use prost::Message;
use pyro_pprof::model::{Function, Profile};

/// What a pprof upload needs before GP takes it over push.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Repairs {
    /// `FixFunctionIDForBrokenDotnet` and `fixSampleTypes`.
    pub dotnet: bool,
    /// `FixFunctionNamesForScriptingLanguages`; `pyspy` keeps functions of absolute paths.
    pub scripting: Option<Scripting>,
}

/// Which scripting spy sent the profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scripting {
    /// `pyspy`: functions in files with an absolute path keep their names.
    PySpy,
    /// `rbspy` or `scripting`.
    Other,
}

impl Repairs {
    /// The repairs GP makes for an upload of `spy` with `sample_type_config` (`isDotnetspy`,
    /// `isScriptingSpy`).
    pub fn of(spy: &str, sample_type_config: Option<&[u8]>) -> Repairs {
        let dotnet_config = || {
            sample_type_config
                .and_then(|c| {
                    serde_json::from_slice::<serde_json::Map<String, serde_json::Value>>(c).ok()
                })
                .is_some_and(|m| m.contains_key("inuse-space"))
        };
        Repairs {
            dotnet: spy == "dotnetspy" || (spy == "unknown" && dotnet_config()),
            scripting: match spy {
                "pyspy" => Some(Scripting::PySpy),
                "rbspy" | "scripting" => Some(Scripting::Other),
                _ => None,
            },
        }
    }

    /// Whether there is anything to do.
    pub fn any(self) -> bool {
        self.dotnet || self.scripting.is_some()
    }

    /// The body repaired (gzipped again when it came gzipped), or `None` when it does not
    /// decode (it goes on as received, and GP answers for it).
    pub fn apply(self, body: &[u8], max: usize) -> Option<Vec<u8>> {
        let gz = pyro_ingest::is_gzip(body);
        let raw = if gz {
            pyro_ingest::gunzip(body, max).ok()?
        } else {
            body.to_vec()
        };
        let mut p = Profile::decode(&raw[..]).ok()?;
        if let Some(s) = self.scripting {
            function_names_for_scripting(&mut p, s);
        }
        if self.dotnet {
            function_ids_for_dotnet(&mut p);
            sample_types_without_dashes(&mut p);
        }
        let out = p.encode_to_vec();
        Some(if gz { super::gzip(&out) } else { out })
    }
}

/// `FixFunctionNamesForScriptingLanguages`: every location line points at a new function named
/// `<filename> <name>` (one per distinct name, ids after the largest, names appended to the
/// string table); `pyspy` leaves lines of functions in absolute paths alone. The old functions
/// stay.
fn function_names_for_scripting(p: &mut Profile, spy: Scripting) {
    let string = |p: &Profile, i: i64| -> String {
        usize::try_from(i)
            .ok()
            .and_then(|i| p.string_table.get(i))
            .cloned()
            .unwrap_or_default()
    };
    let index: std::collections::HashMap<u64, usize> = p
        .function
        .iter()
        .enumerate()
        .map(|(i, f)| (f.id, i))
        .collect();
    let mut max_id = p.function.iter().map(|f| f.id).max().unwrap_or(0);
    let mut added: std::collections::HashMap<String, u64> = std::collections::HashMap::new();
    let mut strings: std::collections::HashMap<String, i64> = std::collections::HashMap::new();
    let mut new_functions = Vec::new();
    let mut lines = std::mem::take(&mut p.location);
    for loc in &mut lines {
        for line in &mut loc.line {
            // GP indexes a missing id as index 0.
            let Some(f) = p
                .function
                .get(index.get(&line.function_id).copied().unwrap_or(0))
            else {
                continue;
            };
            let filename = string(p, f.filename);
            if spy == Scripting::PySpy && filename.starts_with('/') {
                continue;
            }
            let name = format!("{filename} {}", string(p, f.name));
            let id = match added.get(&name) {
                Some(&id) => id,
                None => {
                    max_id += 1;
                    let sid = *strings.entry(name.clone()).or_insert_with(|| {
                        p.string_table.push(name.clone());
                        p.string_table.len() as i64 - 1
                    });
                    new_functions.push(Function {
                        id: max_id,
                        name: sid,
                        filename: f.filename,
                        system_name: f.system_name,
                        start_line: f.start_line,
                    });
                    added.insert(name, max_id);
                    max_id
                }
            };
            line.function_id = id;
        }
    }
    p.location = lines;
    p.function.extend(new_functions);
}

/// `FixFunctionIDForBrokenDotnet`: when every function id is 0 and there are as many functions
/// as locations, function `i` takes location `i`'s id.
fn function_ids_for_dotnet(p: &mut Profile) {
    if p.function.iter().any(|f| f.id != 0) || p.function.len() != p.location.len() {
        return;
    }
    for (f, l) in p.function.iter_mut().zip(&p.location) {
        f.id = l.id;
    }
}

/// `fixSampleTypes`: `-` in sample type names becomes `_`.
fn sample_types_without_dashes(p: &mut Profile) {
    for st in &p.sample_type {
        if let Some(s) = usize::try_from(st.r#type)
            .ok()
            .and_then(|i| p.string_table.get_mut(i))
            && s.contains('-')
        {
            *s = s.replace('-', "_");
        }
    }
}

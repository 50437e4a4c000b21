//! `google.v1.Profile` in Connect's JSON (protojson, as Grafana Pyroscope's Connect handlers
//! write it): lowerCamelCase field names, 64-bit integers as strings, fields at their default
//! (0, empty, false) left out. What Grafana's Profiles Drilldown reads a `SelectMergeProfile`
//! answer with when it asks in JSON (function details).

use pyro_pprof::model::{Function, Label, Line, Location, Mapping, Profile, Sample, ValueType};
use serde_json::{Map, Value};

/// A JSON object of the fields that are not at their default.
struct Obj(Map<String, Value>);

impl Obj {
    fn new() -> Obj {
        Obj(Map::new())
    }

    fn int(mut self, k: &str, v: i64) -> Obj {
        if v != 0 {
            self.0.insert(k.into(), Value::String(v.to_string()));
        }
        self
    }

    fn uint(mut self, k: &str, v: u64) -> Obj {
        if v != 0 {
            self.0.insert(k.into(), Value::String(v.to_string()));
        }
        self
    }

    fn flag(mut self, k: &str, v: bool) -> Obj {
        if v {
            self.0.insert(k.into(), Value::Bool(true));
        }
        self
    }

    fn list(mut self, k: &str, v: Vec<Value>) -> Obj {
        if !v.is_empty() {
            self.0.insert(k.into(), Value::Array(v));
        }
        self
    }

    fn obj(mut self, k: &str, v: Option<Value>) -> Obj {
        if let Some(v) = v {
            self.0.insert(k.into(), v);
        }
        self
    }

    fn done(self) -> Value {
        Value::Object(self.0)
    }
}

fn value_type(v: &ValueType) -> Value {
    Obj::new().int("type", v.r#type).int("unit", v.unit).done()
}

fn label(l: &Label) -> Value {
    Obj::new()
        .int("key", l.key)
        .int("str", l.str)
        .int("num", l.num)
        .int("numUnit", l.num_unit)
        .done()
}

fn sample(s: &Sample) -> Value {
    let strings = |v: Vec<String>| v.into_iter().map(Value::String).collect();
    Obj::new()
        .list(
            "locationId",
            strings(s.location_id.iter().map(u64::to_string).collect()),
        )
        .list(
            "value",
            strings(s.value.iter().map(i64::to_string).collect()),
        )
        .list("label", s.label.iter().map(label).collect())
        .done()
}

fn mapping(m: &Mapping) -> Value {
    Obj::new()
        .uint("id", m.id)
        .uint("memoryStart", m.memory_start)
        .uint("memoryLimit", m.memory_limit)
        .uint("fileOffset", m.file_offset)
        .int("filename", m.filename)
        .int("buildId", m.build_id)
        .done()
}

fn line(l: &Line) -> Value {
    Obj::new()
        .uint("functionId", l.function_id)
        .int("line", l.line)
        .done()
}

fn location(l: &Location) -> Value {
    Obj::new()
        .uint("id", l.id)
        .uint("mappingId", l.mapping_id)
        .uint("address", l.address)
        .list("line", l.line.iter().map(line).collect())
        .flag("isFolded", l.is_folded)
        .done()
}

fn function(f: &Function) -> Value {
    Obj::new()
        .uint("id", f.id)
        .int("name", f.name)
        .int("systemName", f.system_name)
        .int("filename", f.filename)
        .int("startLine", f.start_line)
        .done()
}

/// The profile as protojson.
pub fn to_json(p: &Profile) -> Value {
    Obj::new()
        .list("sampleType", p.sample_type.iter().map(value_type).collect())
        .list("sample", p.sample.iter().map(sample).collect())
        .list("mapping", p.mapping.iter().map(mapping).collect())
        .list("location", p.location.iter().map(location).collect())
        .list("function", p.function.iter().map(function).collect())
        .list(
            "stringTable",
            p.string_table.iter().cloned().map(Value::String).collect(),
        )
        .int("dropFrames", p.drop_frames)
        .int("keepFrames", p.keep_frames)
        .int("timeNanos", p.time_nanos)
        .int("durationNanos", p.duration_nanos)
        .obj("periodType", p.period_type.as_ref().map(value_type))
        .int("period", p.period)
        .list(
            "comment",
            p.comment
                .iter()
                .map(|c| Value::String(c.to_string()))
                .collect(),
        )
        .int("defaultSampleType", p.default_sample_type)
        .done()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protojson_shape() {
        let p = Profile {
            sample_type: vec![ValueType { r#type: 1, unit: 2 }],
            sample: vec![Sample {
                location_id: vec![1, 2],
                value: vec![30],
                label: Vec::new(),
            }],
            string_table: vec![String::new(), "cpu".into(), "nanoseconds".into()],
            period_type: Some(ValueType { r#type: 1, unit: 2 }),
            period: 10_000_000,
            ..Default::default()
        };
        assert_eq!(
            to_json(&p),
            serde_json::json!({
                "sampleType": [{"type": "1", "unit": "2"}],
                "sample": [{"locationId": ["1", "2"], "value": ["30"]}],
                "stringTable": ["", "cpu", "nanoseconds"],
                "periodType": {"type": "1", "unit": "2"},
                "period": "10000000"
            })
        );
    }
}

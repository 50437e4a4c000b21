//! `/pyroscope/render?format=dot`: a merged profile as a Graphviz call graph, written as Grafana
//! Pyroscope writes it (`pkg/frontend/dot`: its copies of google/pprof's `report`, `graph` and
//! `measurement` packages, called by `WriteFromProfile` with `report.Options{NodeCount: n}`).
//!
//! Only what that call reaches for a merged profile is here: no node or edge fraction (both 0),
//! no output unit (values in the sample type's default unit), a graph (not a tree), no sample
//! labels (a merged profile carries none, so no nodelets). The steps are GP's: build the graph
//! (a node per function, file and line; cumulative values counted once per stack), sort by
//! entropy, keep the top `n` nodes and rebuild, drop residual edges another path covers, then
//! write the legend, the nodes (font size by flat share, colour by cumulative share) and the
//! edges by weight.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::LazyLock;

use pyro_pprof::model::Profile;

/// GP's `NodeInfo`, the fields a profile fills.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Info {
    name: String,
    address: u64,
    file: String,
    start_line: i64,
    lineno: i64,
    objfile: String,
}

impl Info {
    /// `NameComponents`.
    fn components(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.address != 0 {
            out.push(format!("{:016x}", self.address));
        }
        if !self.name.is_empty() {
            out.push(self.name.clone());
        }
        if self.lineno != 0 {
            out.push(format!("{}:{}", self.file, self.lineno));
        } else if !self.file.is_empty() {
            out.push(self.file.clone());
        } else if !self.name.is_empty() {
        } else if !self.objfile.is_empty() {
            out.push(format!("[{}]", base(&self.objfile)));
        } else {
            out.push("<unknown>".into());
        }
        out
    }

    /// `PrintableName`.
    fn printable(&self) -> String {
        self.components().join(" ")
    }

    /// `fmt.Sprint(info)` of Go's struct (`compareNodes`' last resort).
    fn sprint(&self) -> String {
        format!(
            "{{{}  {} {} {} {} {}}}",
            self.name, self.address, self.file, self.start_line, self.lineno, self.objfile
        )
    }
}

#[derive(Debug, Clone, Copy)]
struct Edge {
    src: usize,
    dest: usize,
    weight: i64,
    residual: bool,
    inline: bool,
}

#[derive(Debug)]
struct Node {
    info: Info,
    flat: i64,
    cum: i64,
    /// Edges by the other node: index in `Graph::edges`.
    ins: BTreeMap<usize, usize>,
    outs: BTreeMap<usize, usize>,
}

#[derive(Debug, Default)]
struct Graph {
    nodes: Vec<Node>,
    edges: Vec<Option<Edge>>,
}

impl Graph {
    fn edge(&self, i: usize) -> &Edge {
        self.edges[i].as_ref().expect("live edge")
    }

    /// `AddToEdgeDiv` (no divisor).
    fn add_to_edge(&mut self, from: usize, to: usize, v: i64, residual: bool, inline: bool) {
        if let Some(&e) = self.nodes[from].outs.get(&to) {
            let e = self.edges[e].as_mut().expect("live edge");
            e.weight += v;
            e.residual |= residual;
            if !inline {
                e.inline = false;
            }
            return;
        }
        let i = self.edges.len();
        self.edges.push(Some(Edge {
            src: from,
            dest: to,
            weight: v,
            residual,
            inline,
        }));
        self.nodes[from].outs.insert(to, i);
        self.nodes[to].ins.insert(from, i);
    }

    fn remove_edge(&mut self, i: usize) {
        if let Some(e) = self.edges[i].take() {
            self.nodes[e.src].outs.remove(&e.dest);
            self.nodes[e.dest].ins.remove(&e.src);
        }
    }

    /// `EdgeMap.Sort`: heaviest first, then by source and destination names.
    fn sorted_edges(&self, edges: impl Iterator<Item = usize>) -> Vec<usize> {
        let mut v: Vec<(usize, String, String)> = edges
            .map(|i| {
                let e = self.edge(i);
                (
                    i,
                    self.nodes[e.src].info.printable(),
                    self.nodes[e.dest].info.printable(),
                )
            })
            .collect();
        v.sort_by(|a, b| {
            let (x, y) = (self.edge(a.0).weight, self.edge(b.0).weight);
            if x != y {
                return y.abs().cmp(&x.abs());
            }
            a.1.cmp(&b.1).then_with(|| a.2.cmp(&b.2))
        });
        v.into_iter().map(|(i, _, _)| i).collect()
    }

    /// `Nodes.Sort(EntropyOrder)`.
    fn sort_by_entropy(&mut self) {
        let scores: Vec<i64> = (0..self.nodes.len())
            .map(|n| self.entropy_score(n))
            .collect();
        let mut order: Vec<usize> = (0..self.nodes.len()).collect();
        let names: Vec<String> = self.nodes.iter().map(|n| n.info.printable()).collect();
        order.sort_by(|&l, &r| {
            scores[r]
                .abs()
                .cmp(&scores[l].abs())
                .then_with(|| names[l].cmp(&names[r]))
                .then_with(|| self.nodes[r].flat.abs().cmp(&self.nodes[l].flat.abs()))
                .then_with(|| {
                    self.nodes[l]
                        .info
                        .sprint()
                        .cmp(&self.nodes[r].info.sprint())
                })
        });
        self.reorder(&order);
    }

    /// Puts the nodes in `order` (old indices), renumbering edges.
    fn reorder(&mut self, order: &[usize]) {
        let mut new_of = vec![0; order.len()];
        for (new, &old) in order.iter().enumerate() {
            new_of[old] = new;
        }
        let mut old: Vec<Option<Node>> = std::mem::take(&mut self.nodes)
            .into_iter()
            .map(Some)
            .collect();
        self.nodes = order
            .iter()
            .map(|&o| {
                let mut n = old[o].take().expect("each node once");
                n.ins = n.ins.into_iter().map(|(k, e)| (new_of[k], e)).collect();
                n.outs = n.outs.into_iter().map(|(k, e)| (new_of[k], e)).collect();
                n
            })
            .collect();
        for e in self.edges.iter_mut().flatten() {
            e.src = new_of[e.src];
            e.dest = new_of[e.dest];
        }
    }

    /// `entropyScore`.
    fn entropy_score(&self, n: usize) -> i64 {
        let node = &self.nodes[n];
        let mut score = 0f64;
        if node.ins.is_empty() {
            score += 1.0;
        } else {
            score += self.edge_entropy(node.ins.values(), 0);
        }
        if node.outs.is_empty() {
            score += 1.0;
        } else {
            score += self.edge_entropy(node.outs.values(), node.flat);
        }
        (score * node.cum as f64) as i64 + node.flat
    }

    /// `edgeEntropyScore`.
    fn edge_entropy<'e>(&self, edges: impl Iterator<Item = &'e usize> + Clone, own: i64) -> f64 {
        let mut score = 0f64;
        let mut total = own;
        for &e in edges.clone() {
            let w = self.edge(e).weight;
            if w > 0 {
                total += w.abs();
            }
        }
        if total != 0 {
            for &e in edges {
                let frac = self.edge(e).weight.abs() as f64 / total as f64;
                score += -frac * frac.log2();
            }
            if own > 0 {
                let frac = own.abs() as f64 / total as f64;
                score += -frac * frac.log2();
            }
        }
        score
    }

    /// `RemoveRedundantEdges`.
    fn remove_redundant_edges(&mut self) {
        for n in (0..self.nodes.len()).rev() {
            let ins = self.sorted_edges(self.nodes[n].ins.values().copied());
            for &e in ins.iter().rev() {
                if !self.edge(e).residual {
                    break;
                }
                if self.is_redundant(e) {
                    self.remove_edge(e);
                }
            }
        }
    }

    /// `isRedundantEdge`: the source reaches the destination another way.
    fn is_redundant(&self, e: usize) -> bool {
        let Edge { src, dest, .. } = *self.edge(e);
        let mut seen = HashSet::from([dest]);
        let mut queue = std::collections::VecDeque::from([dest]);
        while let Some(n) = queue.pop_front() {
            for (&from, &ie) in &self.nodes[n].ins {
                if ie == e || seen.contains(&from) {
                    continue;
                }
                if from == src {
                    return true;
                }
                seen.insert(from);
                queue.push_back(from);
            }
        }
        false
    }
}

/// GP's `newGraph` of `p` (sample value: the last type), only the nodes of `kept` when given.
fn new_graph(p: &Profile, kept: Option<&HashSet<Info>>) -> Graph {
    let s = |i: i64| {
        p.string_table
            .get(usize::try_from(i).unwrap_or(usize::MAX))
            .map_or("", String::as_str)
    };
    let functions: HashMap<u64, &pyro_pprof::model::Function> =
        p.function.iter().map(|f| (f.id, f)).collect();
    let mappings: HashMap<u64, &pyro_pprof::model::Mapping> =
        p.mapping.iter().map(|m| (m.id, m)).collect();
    let mut g = Graph::default();
    let mut index: HashMap<Info, usize> = HashMap::new();
    // Location id → its nodes (one per line; `None`: not kept).
    let mut locations: HashMap<u64, Vec<Option<usize>>> = HashMap::new();
    for l in &p.location {
        let objfile = mappings
            .get(&l.mapping_id)
            .map_or("", |m| s(m.filename))
            .to_owned();
        let lines: Vec<Option<&pyro_pprof::model::Line>> = if l.line.is_empty() {
            vec![None]
        } else {
            l.line.iter().map(Some).collect()
        };
        let nodes = lines
            .into_iter()
            .map(|line| {
                let f = line.and_then(|li| functions.get(&li.function_id));
                let info = match (line, f) {
                    (Some(li), Some(f)) => {
                        let name = s(f.name).to_owned();
                        let file = s(f.filename);
                        let no_name = name.is_empty();
                        Info {
                            name,
                            address: l.address,
                            file: if file.is_empty() {
                                String::new()
                            } else {
                                clean(file)
                            },
                            start_line: if no_name { f.start_line } else { 0 },
                            lineno: li.line,
                            objfile: if no_name {
                                objfile.clone()
                            } else {
                                String::new()
                            },
                        }
                    }
                    _ => Info {
                        name: String::new(),
                        address: l.address,
                        file: String::new(),
                        start_line: 0,
                        lineno: 0,
                        objfile: objfile.clone(),
                    },
                };
                if kept.is_some_and(|k| !k.contains(&info)) {
                    return None;
                }
                Some(*index.entry(info.clone()).or_insert_with(|| {
                    g.nodes.push(Node {
                        info,
                        flat: 0,
                        cum: 0,
                        ins: BTreeMap::new(),
                        outs: BTreeMap::new(),
                    });
                    g.nodes.len() - 1
                }))
            })
            .collect();
        locations.insert(l.id, nodes);
    }
    let last = p.sample_type.len().saturating_sub(1);
    let mut seen_node = HashSet::new();
    let mut seen_edge = HashSet::new();
    for sample in &p.sample {
        let w = sample.value.get(last).copied().unwrap_or(0);
        if w == 0 {
            continue;
        }
        seen_node.clear();
        seen_edge.clear();
        let mut parent: Option<usize> = None;
        let mut residual = false;
        for id in sample.location_id.iter().rev() {
            let Some(nodes) = locations.get(id) else {
                continue;
            };
            for (ni, n) in nodes.iter().enumerate().rev() {
                let Some(n) = *n else {
                    residual = true;
                    continue;
                };
                if seen_node.insert(n) {
                    g.nodes[n].cum += w;
                }
                if let Some(par) = parent
                    && par != n
                    && seen_edge.insert((n, par))
                {
                    g.add_to_edge(par, n, w, residual, ni != nodes.len() - 1);
                }
                parent = Some(n);
                residual = false;
            }
        }
        if let Some(leaf) = parent
            && !residual
        {
            g.nodes[leaf].flat += w;
        }
    }
    // `selectNodesForGraph`: nodes with values only.
    let live: Vec<bool> = g.nodes.iter().map(|n| n.cum != 0 || n.flat != 0).collect();
    if live.contains(&false) {
        for i in 0..g.edges.len() {
            if let Some(e) = g.edges[i]
                && !(live[e.src] && live[e.dest])
            {
                g.remove_edge(i);
            }
        }
        let n = live.len();
        let order: Vec<usize> = (0..n)
            .filter(|&i| live[i])
            .chain((0..n).filter(|&i| !live[i]))
            .collect();
        g.reorder(&order);
        g.nodes.truncate(live.iter().filter(|&&l| l).count());
    }
    g
}

/// Go's `filepath.Clean` for the paths a profile names.
fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|p| *p != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            p => parts.push(p),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `filepath.Base`.
fn base(path: &str) -> &str {
    let p = path.trim_end_matches('/');
    if p.is_empty() {
        return if path.is_empty() { "." } else { "/" };
    }
    p.rsplit('/').next().unwrap_or(p)
}

/// The graph GP's `newTrimmedGraph` keeps (node and edge fractions 0), with the node count
/// before the cut.
fn trimmed_graph(p: &Profile, node_count: usize) -> (Graph, usize) {
    let mut g = new_graph(p, None);
    let orig = g.nodes.len();
    g.sort_by_entropy();
    if node_count > 0 && g.nodes.len() > node_count {
        // `SelectTopNodes` in visual mode: without tags, the first `node_count`.
        let kept: HashSet<Info> = g.nodes[..node_count]
            .iter()
            .map(|n| n.info.clone())
            .collect();
        g = new_graph(p, Some(&kept));
        g.sort_by_entropy();
    }
    g.remove_redundant_edges();
    (g, orig)
}

/// The units of GP's `measurement` package: (canonical name, aliases, factor), by type, each
/// type's default first.
type UnitType = (
    &'static str,
    &'static [(&'static str, &'static [&'static str], f64)],
);

static UNITS: [UnitType; 3] = [
    (
        "B",
        &[
            ("B", &["b", "byte"], 1.0),
            ("kB", &["kb", "kbyte", "kilobyte"], 1024.0),
            ("MB", &["mb", "mbyte", "megabyte"], 1_048_576.0),
            ("GB", &["gb", "gbyte", "gigabyte"], 1_073_741_824.0),
            ("TB", &["tb", "tbyte", "terabyte"], 1_099_511_627_776.0),
            ("PB", &["pb", "pbyte", "petabyte"], 1_125_899_906_842_624.0),
        ],
    ),
    (
        "s",
        &[
            ("ns", &["ns", "nanosecond"], 1.0),
            ("us", &["μs", "us", "microsecond"], 1e3),
            ("ms", &["ms", "millisecond"], 1e6),
            ("s", &["s", "sec", "second"], 1e9),
            ("hrs", &["hour", "hr"], 3.6e12),
        ],
    ),
    (
        "GCU",
        &[
            ("n*GCU", &["nanogcu"], 1e-9),
            ("u*GCU", &["microgcu"], 1e-6),
            ("m*GCU", &["milligcu"], 1e-3),
            ("GCU", &["gcu"], 1.0),
            ("k*GCU", &["kilogcu"], 1e3),
            ("M*GCU", &["megagcu"], 1e6),
            ("G*GCU", &["gigagcu"], 1e9),
            ("T*GCU", &["teragcu"], 1e12),
            ("P*GCU", &["petagcu"], 1e15),
        ],
    ),
];

/// `measurement.Scale`.
fn scale(value: i64, from: &str, to: &str) -> (f64, String) {
    if value < 0 && value != i64::MIN {
        let (v, u) = scale(-value, from, to);
        return (-v, u);
    }
    let sniff = |units: &'static [(&'static str, &'static [&'static str], f64)], u: &str| {
        let mut u = u.to_lowercase();
        if u.len() > 2 && u.ends_with('s') {
            u.pop();
        }
        units
            .iter()
            .find(|(_, aliases, _)| aliases.contains(&u.as_str()))
    };
    for (default, units) in &UNITS {
        let Some(&(_, _, from_factor)) = sniff(units, from) else {
            continue;
        };
        let v = value as f64 * from_factor;
        let default_factor = units
            .iter()
            .find(|(n, _, _)| n == default)
            .map_or(1.0, |u| u.2);
        if to == "minimum" || to == "auto" {
            let mut f = 0f64;
            let mut name = "";
            for &(n, _, factor) in units.iter() {
                if factor >= f && v / factor >= 1.0 {
                    f = factor;
                    name = n;
                }
            }
            if f == 0.0 {
                return (v / default_factor, (*default).to_owned());
            }
            return (v / f, name.to_owned());
        }
        return match sniff(units, to) {
            Some(&(n, _, factor)) => (v / factor, n.to_owned()),
            None => (v / default_factor, (*default).to_owned()),
        };
    }
    match to {
        "count" | "sample" | "unit" | "minimum" | "auto" => (value as f64, String::new()),
        _ => (value as f64, to.to_owned()),
    }
}

/// `measurement.ScaledLabel`.
fn scaled_label(value: i64, from: &str, to: &str) -> String {
    let (v, u) = scale(value, from, to);
    let sv = format!("{v:.2}");
    let sv = sv.strip_suffix(".00").unwrap_or(&sv);
    if sv == "0" || sv == "-0" {
        return "0".into();
    }
    format!("{sv}{u}")
}

/// `measurement.Percentage` (with its padding).
fn percentage(value: i64, total: i64) -> String {
    let ratio = if total != 0 {
        (value as f64 / total as f64).abs() * 100.0
    } else {
        0.0
    };
    if (99.95..=100.05).contains(&ratio) {
        "  100%".into()
    } else if ratio >= 1.0 {
        format!("{ratio:5.2}%")
    } else {
        format!("{:>5}%", go_g2(ratio))
    }
}

/// Go's `%.2g` of a non-negative number.
fn go_g2(x: f64) -> String {
    if x == 0.0 {
        return "0".into();
    }
    // Two significant digits, then Go's choice of form and its trimmed zeros.
    let e = format!("{x:.1e}");
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let digits = digits.trim_end_matches('0');
    let digits = if digits.is_empty() { "0" } else { digits };
    if !(-4..2).contains(&exp) {
        let m = if digits.len() > 1 {
            format!("{}.{}", &digits[..1], &digits[1..])
        } else {
            digits.to_owned()
        };
        let sign = if exp < 0 { '-' } else { '+' };
        return format!("{m}e{sign}{:02}", exp.abs());
    }
    if exp < 0 {
        format!("0.{}{digits}", "0".repeat((-exp - 1) as usize))
    } else {
        let int_len = exp as usize + 1;
        if digits.len() <= int_len {
            format!("{digits}{}", "0".repeat(int_len - digits.len()))
        } else {
            format!("{}.{}", &digits[..int_len], &digits[int_len..])
        }
    }
}

/// GP's `escapeForDot`.
fn escape(s: &str) -> String {
    s.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\l")
}

static JAVA: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"^(?:[a-z][0-9A-Za-z_]*\.)*([A-Z][0-9A-Za-z_\$]*\.(?:<init>|[a-z][0-9A-Za-z_\$]*(?:\$[0-9]+)?))(?:(?:\()|$)",
    )
    .expect("valid")
});
static GO: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^(?:[0-9A-Za-z_\-\.]+/)+([^.]+\..+)").expect("valid"));
static GO_VER: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^(.*?)/v(?:[2-9]|[1-9][0-9]+)([./].*)$").expect("valid"));
static CPP: LazyLock<regex::Regex> = LazyLock::new(|| {
    regex::Regex::new(
        r"^(?:[_a-zA-Z][0-9A-Za-z_]*::)+(_*[A-Z][0-9A-Za-z_]*::~?[_a-zA-Z][0-9A-Za-z_]*(?:<.*>)?)",
    )
    .expect("valid")
});
static CPP_ANON: LazyLock<regex::Regex> =
    LazyLock::new(|| regex::Regex::new(r"^\(anonymous namespace\)::").expect("valid"));

/// GP's `ShortenFunctionName`.
fn shorten(f: &str) -> String {
    let f = CPP_ANON.replace_all(f, "");
    let f = GO_VER.replace_all(&f, "${1}${2}").into_owned();
    for re in [&*GO, &*JAVA, &*CPP] {
        if let Some(c) = re.captures(&f)
            && c.len() >= 2
        {
            return c
                .iter()
                .skip(1)
                .map(|m| m.map_or("", |m| m.as_str()))
                .collect();
        }
    }
    f
}

/// `multilinePrintableName`.
fn multiline_name(info: &Info) -> String {
    let mut i = info.clone();
    i.name = escape(&shorten(&i.name))
        .replace("::", "\\n")
        .replace("[...]", "[…]")
        .replace('.', "\\n");
    if !i.file.is_empty() {
        i.file = base(&i.file).to_owned();
    }
    i.components().join("\\n") + "\\n"
}

/// GP's `dotColor`.
fn dot_color(score: f64, background: bool) -> String {
    const SHIFT: f64 = 0.7;
    let (mut saturation, value) = if background { (0.1, 0.93) } else { (1.0, 0.7) };
    let mut score = score.clamp(-1.0, 1.0);
    if score.abs() < 0.2 {
        saturation *= score.abs() / 0.2;
    }
    if score > 0.0 {
        score = score.powf(1.0 - SHIFT);
    }
    if score < 0.0 {
        score = -(-score).powf(1.0 - SHIFT);
    }
    let (r, g) = if score < 0.0 {
        (value * (1.0 + saturation * score), value)
    } else {
        (value, value * (1.0 - saturation * score))
    };
    let b = value * (1.0 - saturation);
    format!(
        "#{:02x}{:02x}{:02x}",
        (r * 255.0) as u8,
        (g * 255.0) as u8,
        (b * 255.0) as u8
    )
}

/// "Jan 2, 2006 at 3:04pm (MST)" in UTC.
fn go_time(nanos: i64) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (year, month, day, rem) = crate::attime::civil(nanos.div_euclid(1_000_000_000));
    let (hour, minute) = (rem / 3600, rem % 3600 / 60);
    let (h12, ampm) = match hour {
        0 => (12, "am"),
        h if h < 12 => (h, "am"),
        12 => (12, "pm"),
        h => (h - 12, "pm"),
    };
    format!(
        "{} {day}, {year} at {h12}:{minute:02}{ampm} (UTC)",
        MONTHS[(month - 1) as usize]
    )
}

/// The DOT graph of `p` with at most `node_count` nodes, as GP's `WriteFromProfile(w, p,
/// node_count)` writes it.
pub fn write(p: &Profile, node_count: usize) -> String {
    let s = |i: i64| {
        p.string_table
            .get(usize::try_from(i).unwrap_or(usize::MAX))
            .map_or("", String::as_str)
    };
    let Some(st) = p.sample_type.last() else {
        return String::new();
    };
    let (sample_type, unit) = (s(st.r#type).to_owned(), s(st.unit).to_lowercase());
    let last = p.sample_type.len() - 1;
    let total: i64 = p
        .sample
        .iter()
        .map(|x| x.value.get(last).copied().unwrap_or(0).abs())
        .sum();
    let fv = |v: i64| scaled_label(v, &unit, "");
    let (g, orig) = trimmed_graph(p, node_count);
    let mapping_file = p.mapping.first().map_or("", |m| s(m.filename));
    let title = if mapping_file.is_empty() {
        String::new()
    } else {
        base(mapping_file).to_owned()
    };

    // `ProfileLabels` and `reportLabels`.
    let mut labels: Vec<String> = Vec::new();
    if let Some(m) = p.mapping.first() {
        if !s(m.filename).is_empty() {
            labels.push(format!("File: {}", base(s(m.filename))));
        }
        if !s(m.build_id).is_empty() {
            labels.push(format!("Build ID: {}", s(m.build_id)));
        }
    }
    for &c in &p.comment {
        if !s(c).starts_with('#') {
            labels.push(s(c).to_owned());
        }
    }
    if !sample_type.is_empty() {
        labels.push(format!("Type: {sample_type}"));
    }
    if p.time_nanos != 0 {
        labels.push(format!("Time: {}", go_time(p.time_nanos)));
    }
    if p.duration_nanos != 0 {
        let duration = scaled_label(p.duration_nanos, "nanoseconds", "auto");
        let (total_nanos, total_unit) = scale(total, &unit, "nanoseconds");
        let ratio = if total_unit == "ns" && total_nanos != 0.0 {
            format!("({})", percentage(total_nanos as i64, p.duration_nanos))
        } else {
            String::new()
        };
        labels.push(format!(
            "Duration: {duration}, Total samples = {} {ratio}",
            fv(total)
        ));
    }
    let flat_sum: i64 = g.nodes.iter().map(|n| n.flat).sum();
    labels.push(format!(
        "Showing nodes accounting for {}, {} of {} total",
        fv(flat_sum),
        percentage(flat_sum, total).trim(),
        fv(total)
    ));
    if total != 0 && !g.nodes.is_empty() && g.nodes.len() < orig {
        labels.push(format!("Showing top {} nodes out of {orig}", g.nodes.len()));
    }
    labels.push("\nSee https://git.io/JfYMW for how to read the graph".into());

    // `ComposeDot`.
    let mut out = String::new();
    let name = if title.is_empty() { "unnamed" } else { &title };
    let _ = writeln!(out, "digraph \"{name}\" {{");
    out.push_str("node [style=filled fillcolor=\"#f8f8f8\"]\n");
    let escaped: Vec<String> = labels.iter().map(|l| escape(l)).collect();
    let _ = write!(
        out,
        "subgraph cluster_L {{ \"{}\" [shape=box fontsize=16 label=\"{}\\l\"",
        escaped[0],
        escaped.join("\\l")
    );
    if !title.is_empty() {
        let _ = write!(out, " tooltip=\"{title}\"");
    }
    out.push_str("] }\n");
    if !g.nodes.is_empty() {
        let max_flat = g
            .nodes
            .iter()
            .map(|n| n.flat.abs() as f64)
            .fold(g.nodes[0].flat.abs() as f64, f64::max);
        let denom = total.abs() as f64;
        for (i, n) in g.nodes.iter().enumerate() {
            let (flat, cum) = (n.flat, n.cum);
            let mut label = multiline_name(&n.info);
            let flat_value = fv(flat);
            if flat != 0 {
                let _ = write!(label, "{flat_value} ({})", percentage(flat, total).trim());
            } else {
                label.push('0');
            }
            let mut cum_value = flat_value.clone();
            if cum != flat {
                label.push_str(if flat != 0 { "\\n" } else { " " });
                cum_value = fv(cum);
                let _ = write!(label, "of {cum_value} ({})", percentage(cum, total).trim());
            }
            let mut font = 8;
            if max_flat != 0.0 && flat != 0 && flat.abs() as f64 <= max_flat {
                font += (16.0 * (flat.abs() as f64 / max_flat).sqrt()).ceil() as i64;
            }
            let _ = writeln!(
                out,
                "N{id} [label=\"{label}\" id=\"node{id}\" fontsize={font} shape=box tooltip=\"{} ({cum_value})\" color=\"{}\" fillcolor=\"{}\"]",
                escape(&n.info.printable()),
                dot_color(cum as f64 / denom, false),
                dot_color(cum as f64 / denom, true),
                id = i + 1,
            );
        }
        let all = (0..g.edges.len()).filter(|&i| g.edges[i].is_some());
        for e in g.sorted_edges(all) {
            let e = *g.edge(e);
            let inline = if e.inline { "\\n (inline)" } else { "" };
            let w = fv(e.weight);
            let mut attr = format!("label=\" {w}{inline}\"");
            if total != 0 {
                let weight = 1 + (e.weight * 100 / total).abs().min(100);
                if weight > 1 {
                    let _ = write!(attr, " weight={weight}");
                }
                let width = 1 + (e.weight * 5 / total).abs().min(5);
                if width > 1 {
                    let _ = write!(attr, " penwidth={width}");
                }
                let _ = write!(
                    attr,
                    " color=\"{}\"",
                    dot_color(e.weight as f64 / denom, false)
                );
            }
            let arrow = if e.residual { "..." } else { "->" };
            let tooltip = format!(
                "\"{} {arrow} {} ({w})\"",
                escape(&g.nodes[e.src].info.printable()),
                escape(&g.nodes[e.dest].info.printable())
            );
            let _ = write!(attr, " tooltip={tooltip} labeltooltip={tooltip}");
            if e.residual {
                attr.push_str(" style=\"dotted\"");
            }
            let _ = writeln!(out, "N{} -> N{} [{attr}]", e.src + 1, e.dest + 1);
        }
    }
    out.push_str("}\n");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Go's `%.2g` and GP's `Percentage`, `ScaledLabel`, `dotColor` and time layout on values
    /// checked against Go.
    #[test]
    fn go_formatting() {
        assert_eq!(go_g2(0.5), "0.5");
        assert_eq!(go_g2(0.0123), "0.012");
        assert_eq!(go_g2(0.00001234), "1.2e-05");
        assert_eq!(go_g2(0.999), "1");
        assert_eq!(percentage(1, 3), "33.33%");
        assert_eq!(percentage(1, 1000), "  0.1%");
        assert_eq!(percentage(1, 100_000), "0.001%");
        assert_eq!(percentage(1, 200), "  0.5%");
        assert_eq!(percentage(3, 3), "  100%");
        assert_eq!(scaled_label(10_000_000, "nanoseconds", ""), "0.01s");
        assert_eq!(scaled_label(1_500_000_000, "nanoseconds", ""), "1.50s");
        assert_eq!(scaled_label(2048, "bytes", ""), "2048B");
        assert_eq!(scaled_label(7, "count", ""), "7");
        assert_eq!(scaled_label(90_000_000_000, "nanoseconds", "auto"), "90s");
        assert_eq!(dot_color(0.0, false), "#b2b2b2");
        assert_eq!(dot_color(1.0, false), "#b20000");
        assert_eq!(
            go_time(1_609_459_200_000_000_000),
            "Jan 1, 2021 at 12:00am (UTC)"
        );
        assert_eq!(
            shorten("github.com/x/y/v2/pkg.(*T).Method"),
            "pkg.(*T).Method"
        );
        assert_eq!(shorten("java/util/HashMap.get"), "HashMap.get");
        assert_eq!(clean("a//b/../c/"), "a/c");
        assert_eq!(base("/usr/bin/app"), "app");
    }
}

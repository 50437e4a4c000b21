//! What one request stores: series with their metadata and stack tree.

use pyro_labels::SeriesName;
use pyro_tree::StackTree;

/// How a series' values combine over time (OG's `aggregationType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Aggregation {
    /// Values add up (the default).
    #[default]
    Sum,
    /// Values are averaged over the writes in range (`average` or `avg`).
    Average,
}

impl Aggregation {
    /// OG's reading of `aggregationType`: `average` and `avg` average, anything else sums.
    pub fn parse(s: &str) -> Aggregation {
        match s {
            "average" | "avg" => Aggregation::Average,
            _ => Aggregation::Sum,
        }
    }

    /// `sum` or `average`, as stored and as `/render` reports it.
    pub fn as_str(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Average => "average",
        }
    }
}

/// Written as [`Aggregation::as_str`]; read with [`Aggregation::parse`] (any other string
/// sums, as OG reads it).
impl serde::Serialize for Aggregation {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Aggregation {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Aggregation::parse(&s))
    }
}

/// One series a request stores: its normalized name, metadata and stack tree. Frames borrow
/// from the request's body where the reader can lend them.
#[derive(Debug)]
pub struct Series<'a> {
    /// The series name; `Display` gives the normalized storage key.
    pub name: SeriesName,
    /// `units` (`samples`, `bytes`, `objects`, …).
    pub units: String,
    /// `aggregationType`.
    pub aggregation: Aggregation,
    /// Sample rate in Hz (0 when the values are not samples).
    pub sample_rate: u32,
    /// `spyName` (`unknown` when not sent).
    pub spy_name: String,
    /// The stacks.
    pub tree: StackTree<'a>,
    /// The samples of `tree` that carried a span id (pprof's `span_id` sample label, as
    /// pyroscope-otel sets it), per span: kept beside the series, never as series labels.
    pub spans: Vec<(String, StackTree<'a>)>,
}

impl Series<'_> {
    /// The same series with every frame name owned, outliving the request body.
    pub fn into_owned(self) -> Series<'static> {
        Series {
            name: self.name,
            units: self.units,
            aggregation: self.aggregation,
            sample_rate: self.sample_rate,
            spy_name: self.spy_name,
            tree: self.tree.into_owned(),
            spans: self
                .spans
                .into_iter()
                .map(|(id, t)| (id, t.into_owned()))
                .collect(),
        }
    }
}

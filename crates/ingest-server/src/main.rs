//! The `ingest-server` command line.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};
use ingest_server::ingest::{self, Limits, Params};
use ingest_server::output;

#[derive(Parser)]
#[command(
    name = "ingest-server",
    version,
    about = "Pyroscope-compatible ingestion server and converter"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum InputFormat {
    Folded,
    Lines,
    Trie,
    Tree,
    Pprof,
    Jfr,
}

#[derive(Clone, Copy, ValueEnum)]
enum OutputFormat {
    Folded,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Read FILE as an `/ingest` body and print the series the server would store.
    ///
    /// Formats: folded (default), lines, trie, tree, pprof (gzipped or not); jfr is not
    /// supported yet.
    Convert {
        /// Body format, as `/ingest`'s `format` parameter (default: folded, or what
        /// `--content-type` selects).
        #[arg(long, value_enum)]
        format: Option<InputFormat>,
        /// Content-Type the body would arrive with (e.g. `binary/octet-stream+trie`).
        #[arg(long)]
        content_type: Option<String>,
        /// Series name, parsed and normalized as `/ingest`'s `name`.
        #[arg(long, default_value = "app.cpu")]
        name: String,
        /// `units` parameter.
        #[arg(long)]
        units: Option<String>,
        /// `aggregationType` parameter (`sum`, `average`).
        #[arg(long = "aggregation-type")]
        aggregation: Option<String>,
        /// `sampleRate` parameter.
        #[arg(long, allow_hyphen_values = true)]
        sample_rate: Option<String>,
        /// `spyName` parameter.
        #[arg(long)]
        spy_name: Option<String>,
        /// pprof: a `sample_type_config` JSON file (replaces the default sample-type table).
        #[arg(long, value_name = "FILE")]
        sample_type_config: Option<PathBuf>,
        /// pprof: the previous profile of a cumulative pair (`prev_profile`).
        #[arg(long, value_name = "FILE")]
        prev: Option<PathBuf>,
        /// Longest folded/lines line accepted, in bytes.
        #[arg(long, default_value_t = pyro_folded::DEFAULT_MAX_LINE_LEN)]
        max_line_len: usize,
        /// Output: folded text or JSON.
        #[arg(long, value_enum, default_value = "folded")]
        output: OutputFormat,
        /// Input file, `-` for stdin.
        file: PathBuf,
    },
}

fn read_input(path: &PathBuf) -> std::io::Result<Vec<u8>> {
    if path.as_os_str() == "-" {
        let mut buf = Vec::new();
        std::io::stdin().lock().read_to_end(&mut buf)?;
        Ok(buf)
    } else {
        std::fs::read(path)
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Convert {
            format,
            content_type,
            name,
            units,
            aggregation,
            sample_rate,
            spy_name,
            sample_type_config,
            prev,
            max_line_len,
            output,
            file,
        } => {
            let read = |path: &PathBuf| {
                read_input(path).map_err(|e| {
                    eprintln!("error: {}: {e}", path.display());
                    ExitCode::from(2)
                })
            };
            let body = match read(&file) {
                Ok(b) => b,
                Err(code) => return code,
            };
            let sample_type_config = match sample_type_config.as_ref().map(read).transpose() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let prev_profile = match prev.as_ref().map(read).transpose() {
                Ok(c) => c,
                Err(code) => return code,
            };
            let params = Params {
                name,
                format: format.map(|f| {
                    f.to_possible_value()
                        .map(|v| v.get_name().to_owned())
                        .unwrap_or_default()
                }),
                content_type,
                units,
                aggregation,
                sample_rate,
                spy_name,
                sample_type_config,
                prev_profile,
            };
            let limits = Limits {
                text: pyro_folded::Options::new().max_line_len(max_line_len),
                ..Limits::default()
            };
            let series = match ingest::parse(&params, &body, &limits) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::FAILURE;
                }
            };
            let text = match output {
                OutputFormat::Folded => output::folded(&series),
                OutputFormat::Json => output::json(&series),
            };
            if let Err(e) = std::io::stdout().lock().write_all(text.as_bytes()) {
                eprintln!("error: writing output: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::SUCCESS
        }
    }
}

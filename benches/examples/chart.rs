//! Redraws the SVG chart of a saved `mapio bench --json` report, and
//! prints its tables.
//!
//! ```text
//! mapio bench --json > report.json
//! cargo run -p mapio-bench --example chart -- report.json chart.svg
//! ```

use std::io;

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [input, output] = args.as_slice() else {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "usage: chart REPORT.json OUT.svg",
        ));
    };
    let report: mapio_bench::harness::Report =
        serde_json::from_str(&std::fs::read_to_string(input)?).map_err(io::Error::from)?;
    let svg = mapio_bench::chart::svg_chart(&report).map_err(io::Error::other)?;
    print!("{}", mapio_bench::harness::report_text(&report));
    std::fs::write(output, svg)
}

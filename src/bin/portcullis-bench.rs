//! `portcullis-bench`: load and benchmark tool for telnet-style text servers over telnet, TLS
//! or SSH. See [`portcullis::bench`] and `portcullis-bench --help`.
//!
//! Exit status: 0 on success; 1 when the scenario failed its own invariants or could not run
//! (one line on stderr); 2 for a usage error.

use clap::Parser;
use portcullis::bench::{self, Cli, report};

fn main() {
    let cli = Cli::parse();
    std::process::exit(match run(&cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("portcullis-bench: {e:#}");
            1
        }
    });
}

fn run(cli: &Cli) -> anyhow::Result<i32> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let (params, outcome) = runtime.block_on(bench::run(cli))?;
    // Whatever is still closing is not waited for.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    let name = cli.scenario.name();
    print!("{}", outcome.table(name));
    if let Some(path) = &cli.json {
        let doc = report::document(name, params, &outcome);
        let mut text = serde_json::to_string_pretty(&doc)?;
        text.push('\n');
        std::fs::write(path, text)
            .map_err(|e| anyhow::anyhow!("cannot write {}: {e}", path.display()))?;
    }
    Ok(match &outcome.failure {
        None => 0,
        Some(why) => {
            eprintln!("portcullis-bench: {name} failed: {why}");
            1
        }
    })
}

//! `tributary-demo`: runs the storefront's reviews and inventory services standalone, e.g. to
//! point a Tributary started elsewhere at them (`REVIEWS_URL`, `INVENTORY_URL`).
//!
//! ```text
//! tributary-demo [--reviews 127.0.0.1:4001] [--inventory 127.0.0.1:4002]
//! ```
//!
//! Stdout carries only the two `NAME=URL` lines (easy to `eval` or grep); logs go to stderr.

use std::net::SocketAddr;
use std::process::ExitCode;

const USAGE: &str = "\
Runs the Tributary storefront's demo HTTP services (in-memory, seeded data).

Usage: tributary-demo [--reviews ADDR] [--inventory ADDR]

Options:
  --reviews ADDR     address of the reviews service   [default: 127.0.0.1:4001]
  --inventory ADDR   address of the inventory service [default: 127.0.0.1:4002]
  -h, --help         print this help

Port 0 picks a free port. Prints REVIEWS_URL=... and INVENTORY_URL=...
Stop with Ctrl-C or SIGTERM.";

#[derive(Debug, PartialEq)]
struct Options {
    reviews: SocketAddr,
    inventory: SocketAddr,
}

/// `None` means help was asked for. Parsed by hand: two options do not justify clap's
/// compile time in a demo crate.
fn parse_args(args: impl IntoIterator<Item = String>) -> Result<Option<Options>, String> {
    let mut options = Options {
        reviews: SocketAddr::from(([127, 0, 0, 1], 4001)),
        inventory: SocketAddr::from(([127, 0, 0, 1], 4002)),
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
            None => (arg, None),
        };
        let target = match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--reviews" => &mut options.reviews,
            "--inventory" => &mut options.inventory,
            other => return Err(format!("unknown argument {other:?}")),
        };
        let value = inline
            .or_else(|| args.next())
            .ok_or_else(|| format!("{name} needs an address"))?;
        *target = value
            .parse()
            .map_err(|_| format!("{name}: {value:?} is not an address like 127.0.0.1:4001"))?;
    }
    Ok(Some(options))
}

#[tokio::main]
async fn main() -> ExitCode {
    let options = match parse_args(std::env::args().skip(1)) {
        Ok(Some(options)) => options,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(message) => {
            eprintln!("error: {message}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    let services = match tributary_demo::start_pair(options.reviews, options.inventory).await {
        Ok(services) => services,
        Err(error) => {
            eprintln!("error: cannot start the demo services: {error}");
            return ExitCode::FAILURE;
        }
    };
    println!("REVIEWS_URL={}", services.reviews_url);
    println!("INVENTORY_URL={}", services.inventory_url);

    stop_requested().await;
    match services.shutdown().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one (process managers and `kill` send it),
/// so both end in a graceful shutdown.
async fn stop_requested() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            eprintln!("error: cannot wait for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Option<Options>, String> {
        parse_args(args.iter().map(|arg| (*arg).to_owned()))
    }

    #[test]
    fn addresses_are_taken_from_either_spelling_and_default_otherwise() {
        let options = parse(&["--reviews", "127.0.0.1:5001", "--inventory=0.0.0.0:0"])
            .ok()
            .flatten();
        assert_eq!(
            options,
            Some(Options {
                reviews: SocketAddr::from(([127, 0, 0, 1], 5001)),
                inventory: SocketAddr::from(([0, 0, 0, 0], 0)),
            })
        );
        let defaults = parse(&[])
            .ok()
            .flatten()
            .map(|options| options.inventory.port());
        assert_eq!(defaults, Some(4002));
    }

    #[test]
    fn bad_arguments_are_errors_and_help_is_not() {
        assert!(parse(&["--reviews"]).is_err());
        assert!(parse(&["--reviews", "localhost"]).is_err());
        assert!(parse(&["--verbose"]).is_err());
        assert_eq!(parse(&["--help"]), Ok(None));
    }
}

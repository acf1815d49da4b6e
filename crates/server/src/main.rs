//! `storefront`: parses the command line, loads the configuration and runs the command.

use clap::Parser;
use std::process::ExitCode;
use storefront_server::cli::{Cli, run};
use storefront_server::settings::LogFormat;
use storefront_server::{Settings, telemetry};

#[actix_web::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load() {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("storefront: {e}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(&settings.log);
    for warning in &settings.warnings {
        tracing::warn!("{warning}");
    }
    let format = settings.log.format;
    match run(cli, settings).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // Once: a JSON line for a log pipeline, else a plain line for a person.
            match format {
                LogFormat::Json => tracing::error!("{e}"),
                LogFormat::Text => eprintln!("storefront: {e}"),
            }
            ExitCode::FAILURE
        }
    }
}

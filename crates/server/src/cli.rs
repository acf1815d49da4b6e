//! The command line: `storefront [serve|migrate|create-admin|seed-demo|openapi|worker]`.

use crate::application::{Application, build_services};
use crate::settings::Settings;
use crate::store::Store;
use clap::{Parser, Subcommand};
use storefront_app::{AppError, Registration};
use storefront_domain::{PlainPassword, RoleName};

#[derive(Debug, Parser)]
#[command(name = "storefront", version, about = "Storefront REST backend")]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP server (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Create an account with the `admin` role (password from STOREFRONT_ADMIN_PASSWORD, else a prompt).
    CreateAdmin {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Administrator")]
        name: String,
    },
    /// Print the OpenAPI document.
    Openapi,
    /// Load the demo catalogue (users, categories, products, likes, reviews, orders) into the database.
    SeedDemo,
    /// Relay the outbox's events to Redis and handle them (or, without Redis, handle the
    /// outbox in-process) until SIGTERM/SIGINT.
    Worker,
    /// GET this host's `/health` on the configured port (a container's HEALTHCHECK: the
    /// image has no curl); exit status 0 on 200, 1 otherwise.
    Healthcheck {
        /// Probe `storefront worker`'s `/health` on `events.worker_metrics_port` instead.
        #[arg(long)]
        worker: bool,
    },
}

/// A failure that ends the process with a message and a non-zero status.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct CliError(pub String);

fn fail(context: &str, err: impl std::fmt::Display) -> CliError {
    CliError(format!("{context}: {err}"))
}

pub async fn run(cli: Cli, settings: Settings) -> Result<(), CliError> {
    match cli.command.unwrap_or(Command::Serve) {
        Command::Serve => {
            let app = Application::build(settings).await.map_err(|e| fail("cannot start", e))?;
            app.run_until_stopped().await.map_err(|e| fail("server failed", e))
        }
        Command::Migrate => {
            let url = settings.database.url.as_deref().ok_or_else(|| CliError(no_database("migrate")))?;
            storefront_postgres::run_migrations(url).await.map_err(|e| fail("migration failed", e))?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::CreateAdmin { email, name } => create_admin(settings, email, name).await,
        Command::SeedDemo => seed_demo(settings).await,
        Command::Worker => crate::events::run_worker(settings).await.map_err(CliError),
        Command::Healthcheck { worker } => {
            let port = if worker { settings.events.worker_metrics_port } else { settings.server.port };
            crate::healthcheck::probe(&settings.server.host, port, crate::healthcheck::TIMEOUT).await.map_err(CliError)
        }
        Command::Openapi => {
            let doc = storefront_http::openapi()
                .to_pretty_json()
                .map_err(|e| fail("cannot render the OpenAPI document", e))?;
            use std::io::Write;
            match writeln!(std::io::stdout(), "{doc}") {
                // The reader has what it wanted (`storefront openapi | head`): not a failure.
                Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                outcome => outcome.map_err(|e| fail("cannot write", e)),
            }
        }
    }
}

fn no_database(command: &str) -> String {
    format!("`{command}` needs PostgreSQL: set DATABASE_URL or STOREFRONT__DATABASE__URL")
}

async fn create_admin(settings: Settings, email: String, name: String) -> Result<(), CliError> {
    if settings.database.url.is_none() {
        return Err(CliError(no_database("create-admin")));
    }
    let password = match std::env::var("STOREFRONT_ADMIN_PASSWORD") {
        Ok(p) if !p.is_empty() => p,
        _ => rpassword::prompt_password("Password for the new admin: ")
            .map_err(|e| fail("cannot read the password", e))?,
    };
    let store = Store::from_settings(&settings).await.map_err(|e| fail("cannot open the database", e))?;
    let services = build_services(&settings, &store).map_err(|e| fail("cannot start", e))?;
    let registration = Registration { email: email.clone(), password: PlainPassword::new(password), name };
    match services.accounts.create_with_role(registration, RoleName::admin()).await {
        Ok(user) => {
            tracing::info!(user_id = %user.id, email = %user.email, "admin created");
            Ok(())
        }
        Err(AppError::EmailTaken) => Err(CliError(format!("an account with the email `{email}` already exists"))),
        Err(AppError::Validation(violations)) => Err(CliError(format!(
            "invalid admin account: {}",
            violations.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
        ))),
        Err(e) => Err(fail("cannot create the admin", e)),
    }
}

async fn seed_demo(settings: Settings) -> Result<(), CliError> {
    // Demo accounts share one published password: never in a real shop's database.
    if settings.env == crate::settings::RunEnv::Production {
        return Err(CliError(
            "`seed-demo` refuses to run with STOREFRONT_ENV=production: it creates demo accounts with a \
             published password; run it against a development or test database"
                .into(),
        ));
    }
    if settings.database.url.is_none() {
        return Err(CliError(no_database("seed-demo")));
    }
    let store = Store::from_settings(&settings).await.map_err(|e| fail("cannot open the database", e))?;
    let state = build_services(&settings, &store).map_err(|e| fail("cannot start", e))?;
    let summary = crate::seed::seed_demo(&settings, &state).await.map_err(|e| fail("seeding failed", e))?;
    tracing::info!(?summary, password = crate::seed::DEMO_PASSWORD, "demo catalogue loaded");
    Ok(())
}

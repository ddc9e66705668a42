//! PDF: text per page with pdf-extract, after guards that pdf-extract and lopdf lack.
//!
//! Before the document is parsed, every zlib stream in the file is inflated once into a
//! counter (nested zlib too), so a decompression bomb is refused before lopdf inflates object
//! streams or pdf-extract inflates content streams — neither bounds what it inflates. Image
//! streams are not counted: text extraction never decodes them. Encrypted documents are
//! refused rather than decrypted.

use std::io::{Cursor, Read};
use std::panic::{self, AssertUnwindSafe};

use flate2::read::ZlibDecoder;
use pdf_extract::{Document, Object, PlainTextOutput};

use super::{ExtractError, Extracted, Format, Limits, Section, collapse_whitespace, find};

pub(super) fn extract(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    if has_encrypt_entry(bytes) {
        return Err(ExtractError::Encrypted);
    }
    check_streams(bytes, limits.max_decompressed_bytes)?;
    let doc = Document::load_mem(bytes)
        .map_err(|e| ExtractError::Corrupt(format!("the PDF could not be read ({e})")))?;
    if doc.is_encrypted() || doc.was_encrypted() {
        return Err(ExtractError::Encrypted);
    }

    let pages = doc.get_pages();
    let mut sections = Vec::with_capacity(pages.len());
    let mut failure = None;
    let mut total = 0usize;
    for &number in pages.keys() {
        match page_text(&doc, number) {
            Ok(text) => {
                let text = tidy(&text);
                if text.is_empty() {
                    continue;
                }
                total += text.len();
                if total > limits.max_text_bytes {
                    return Err(super::text_too_large(limits.max_text_bytes));
                }
                sections.push(Section {
                    headings: vec![format!("Page {number}")],
                    text,
                });
            }
            Err(e) => {
                failure.get_or_insert(e);
            }
        }
    }
    if sections.is_empty() {
        return Err(match failure {
            Some(why) => ExtractError::Corrupt(format!("the PDF could not be read ({why})")),
            None => super::no_text_pdf(),
        });
    }
    Ok(Extracted {
        format: Format::Pdf,
        title: info_title(&doc),
        sections,
    })
}

/// One page's text; pdf-extract panics on some malformed input, which is an error here.
fn page_text(doc: &Document, number: u32) -> Result<String, String> {
    panic::catch_unwind(AssertUnwindSafe(|| {
        let mut text = String::new();
        let mut output = PlainTextOutput::new(&mut text);
        pdf_extract::output_doc_page(doc, &mut output, number).map_err(|e| e.to_string())?;
        Ok(text)
    }))
    .unwrap_or_else(|payload| {
        Err(payload
            .downcast_ref::<&str>()
            .map(|s| (*s).to_owned())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "the parser failed".to_owned()))
    })
}

/// Trims lines and keeps at most one blank line between paragraphs.
fn tidy(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut blank = 0;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() {
            blank += 1;
            continue;
        }
        if !out.is_empty() {
            out.push_str(if blank > 0 { "\n\n" } else { "\n" });
        }
        blank = 0;
        out.push_str(line);
    }
    out
}

fn info_title(doc: &Document) -> Option<String> {
    let info = doc.trailer.get(b"Info").ok()?;
    let dict = match info {
        Object::Reference(id) => doc.get_dictionary(*id).ok()?,
        Object::Dictionary(dict) => dict,
        _ => return None,
    };
    let title = pdf_extract::decode_text_string(dict.get(b"Title").ok()?).ok()?;
    let title = collapse_whitespace(&title);
    (!title.is_empty()).then_some(title)
}

/// Whether a trailer (or cross-reference stream dictionary) names an /Encrypt dictionary.
fn has_encrypt_entry(bytes: &[u8]) -> bool {
    let mut pos = 0;
    while let Some(i) = find(&bytes[pos..], b"/Encrypt") {
        let after = pos + i + b"/Encrypt".len();
        // `/EncryptMetadata` and other longer names are not the entry.
        match bytes.get(after) {
            Some(b) if b.is_ascii_alphanumeric() => pos = after,
            _ => return true,
        }
    }
    false
}

/// How far back from a `stream` keyword its dictionary is looked at.
const DICT_LOOKBACK: usize = 4096;

/// Inflates every zlib stream of the file into a counter; fails when the total passes `limit`.
fn check_streams(bytes: &[u8], limit: u64) -> Result<(), ExtractError> {
    let mut total = 0u64;
    let mut pos = 0;
    while let Some(i) = find(&bytes[pos..], b"stream") {
        let keyword = pos + i;
        pos = keyword + b"stream".len();
        if keyword >= 3 && &bytes[keyword - 3..keyword] == b"end" {
            continue;
        }
        let mut data = pos;
        if bytes.get(data) == Some(&b'\r') {
            data += 1;
        }
        if bytes.get(data) == Some(&b'\n') {
            data += 1;
        }
        if data == pos {
            continue;
        }
        let dict = dictionary_before(bytes, keyword);
        if is_image(dict) {
            continue;
        }
        let remaining = limit.saturating_sub(total);
        let raw = &bytes[data..];
        if looks_zlib(raw) {
            total = total.saturating_add(inflated_size(raw, remaining));
        } else if find(dict, b"/ASCII").is_some() {
            // Flate under an ASCII encoding: decode that first (it at most quadruples).
            let end = find(raw, b"endstream").unwrap_or(raw.len());
            let decoded = if find(dict, b"/ASCII85Decode").is_some() {
                ascii85(&raw[..end], remaining)
            } else {
                ascii_hex(&raw[..end])
            };
            total = total.saturating_add(decoded.len() as u64);
            if looks_zlib(&decoded) && total <= limit {
                let remaining = limit.saturating_sub(total);
                total = total.saturating_add(inflated_size(&decoded, remaining));
            }
        }
        if total > limit {
            return Err(ExtractError::Bomb(format!(
                "the PDF's compressed streams inflate to more than the {} limit",
                super::human_bytes(limit)
            )));
        }
    }
    Ok(())
}

/// The dictionary before a `stream` keyword: from the last `obj` keyword before it.
fn dictionary_before(bytes: &[u8], keyword: usize) -> &[u8] {
    let window = &bytes[keyword.saturating_sub(DICT_LOOKBACK)..keyword];
    match window.windows(3).rposition(|w| w == b"obj") {
        Some(at) => &window[at..],
        None => window,
    }
}

/// Whether a stream dictionary is an image's.
fn is_image(dict: &[u8]) -> bool {
    find(dict, b"/Image").is_some()
        && find(dict, b"/ObjStm").is_none()
        && find(dict, b"/XRef").is_none()
}

/// ASCII85 data decoded, stopping once past `limit` bytes.
fn ascii85(data: &[u8], limit: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut n = 0;
    for &b in data {
        if out.len() as u64 > limit {
            break;
        }
        match b {
            b'~' => break,
            b'z' if n == 0 => out.extend_from_slice(&[0; 4]),
            b'!'..=b'u' => {
                acc = acc * 85 + u64::from(b - b'!');
                n += 1;
                if n == 5 {
                    out.extend_from_slice(&(acc as u32).to_be_bytes());
                    acc = 0;
                    n = 0;
                }
            }
            _ => {}
        }
    }
    if n > 1 {
        for _ in n..5 {
            acc = acc * 85 + 84;
        }
        out.extend_from_slice(&(acc as u32).to_be_bytes()[..n - 1]);
    }
    out
}

/// ASCIIHex data decoded.
fn ascii_hex(data: &[u8]) -> Vec<u8> {
    let digits: Vec<u8> = data
        .iter()
        .take_while(|b| **b != b'>')
        .filter_map(|b| (*b as char).to_digit(16))
        .map(|d| d as u8)
        .collect();
    digits
        .chunks(2)
        .map(|pair| (pair[0] << 4) | pair.get(1).copied().unwrap_or(0))
        .collect()
}

fn looks_zlib(data: &[u8]) -> bool {
    match data {
        [cmf, flg, ..] => {
            cmf & 0x0F == 8 && ((u16::from(*cmf) << 8) | u16::from(*flg)).is_multiple_of(31)
        }
        _ => false,
    }
}

/// Counts what a reader yields, stopping past `limit`.
struct Counted<R> {
    inner: R,
    count: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

/// Reads until the end, an error or more than `limit` bytes; returns how many were read.
fn drain<R: Read>(reader: &mut R, limit: u64) -> u64 {
    let mut buf = vec![0u8; 64 * 1024];
    let mut total = 0u64;
    while total <= limit {
        match reader.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => total += n as u64,
        }
    }
    total
}

/// The inflated size of a zlib stream (and of a zlib stream inside it), or something over
/// `limit` once it passes it.
fn inflated_size(data: &[u8], limit: u64) -> u64 {
    let mut outer = Counted {
        inner: ZlibDecoder::new(data),
        count: 0,
    };
    let mut head = [0u8; 2];
    let mut got = 0;
    while got < head.len() {
        match outer.read(&mut head[got..]) {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let mut inner_total = 0;
    if got == head.len() && looks_zlib(&head) {
        let mut inner = ZlibDecoder::new(Cursor::new(head).chain(&mut outer));
        inner_total = drain(&mut inner, limit);
    }
    let rest = limit.saturating_sub(inner_total.saturating_add(outer.count));
    drain(&mut outer, rest);
    outer.count.saturating_add(inner_total)
}

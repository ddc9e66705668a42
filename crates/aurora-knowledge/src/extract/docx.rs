//! Word (.docx): paragraphs of `word/document.xml` become text, paragraphs styled Title or
//! Heading1..6 (or given an outline level) become the heading path. Every part is read through
//! a bounded reader, so a zip bomb stops at [`Limits::max_decompressed_bytes`].

use std::io::{Cursor, Read};

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};
use zip::ZipArchive;

use super::{ExtractError, Extracted, Format, Limits, SectionBuilder, collapse_whitespace};

const DOCUMENT_XML: &str = "word/document.xml";
const CORE_XML: &str = "docProps/core.xml";
/// docProps/core.xml is a few hundred bytes; more is not metadata.
const MAX_CORE_XML_BYTES: u64 = 1024 * 1024;
/// Inflated-to-compressed ratio above which a large part is taken for a bomb. Word XML
/// compresses about 10:1; long runs of one byte compress about 1000:1.
const MAX_RATIO: u64 = 200;
/// Parts smaller than this are not judged by their ratio.
const RATIO_FLOOR_BYTES: u64 = 8 * 1024 * 1024;

pub(super) fn is_docx(bytes: &[u8]) -> bool {
    ZipArchive::new(Cursor::new(bytes))
        .map(|archive| archive.index_for_name(DOCUMENT_XML).is_some())
        .unwrap_or(false)
}

pub(super) fn extract(bytes: &[u8], limits: &Limits) -> Result<Extracted, ExtractError> {
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(corrupt)?;
    let mut budget = limits.max_decompressed_bytes;
    let document = read_part(&mut archive, DOCUMENT_XML, &mut budget, limits)?
        .ok_or_else(|| corrupt("word/document.xml is missing"))?;
    let core_title = match read_part(&mut archive, CORE_XML, &mut budget, limits) {
        Ok(Some(core)) => core_title(&core),
        // Metadata is optional: a broken core.xml must not lose the document.
        Ok(None) | Err(ExtractError::Corrupt(_)) => None,
        Err(e) => return Err(e),
    };
    let (sections, first_heading) = body(&document, limits)?;
    Ok(Extracted {
        format: Format::Docx,
        title: core_title.or(first_heading),
        sections,
    })
}

fn corrupt(e: impl std::fmt::Display) -> ExtractError {
    ExtractError::Corrupt(format!("the Word document could not be read ({e})"))
}

/// Reads a part, inflating at most what is left of `budget` (and 1 MiB for core.xml).
fn read_part(
    archive: &mut ZipArchive<Cursor<&[u8]>>,
    name: &str,
    budget: &mut u64,
    limits: &Limits,
) -> Result<Option<Vec<u8>>, ExtractError> {
    let Some(index) = archive.index_for_name(name) else {
        return Ok(None);
    };
    let file = archive.by_index(index).map_err(corrupt)?;
    let cap = if name == CORE_XML {
        (*budget).min(MAX_CORE_XML_BYTES)
    } else {
        *budget
    };
    let declared = file.size();
    let compressed = file.compressed_size().max(1);
    let limit_text = super::human_bytes(limits.max_decompressed_bytes);
    if declared > cap {
        return Err(ExtractError::Bomb(format!(
            "{name} declares {} when decompressed, over the {limit_text} limit",
            super::human_bytes(declared)
        )));
    }
    if declared > RATIO_FLOOR_BYTES && declared / compressed > MAX_RATIO {
        return Err(ExtractError::Bomb(format!(
            "{name} inflates {}:1 ({} from {})",
            declared / compressed,
            super::human_bytes(declared),
            super::human_bytes(compressed)
        )));
    }
    // The declared size may lie: the reader itself stops one byte past the cap.
    let mut data = Vec::new();
    file.take(cap.saturating_add(1))
        .read_to_end(&mut data)
        .map_err(corrupt)?;
    let read = data.len() as u64;
    if read > cap {
        return Err(ExtractError::Bomb(format!(
            "{name} inflates to more than the {limit_text} limit"
        )));
    }
    *budget -= read;
    Ok(Some(data))
}

fn core_title(xml: &[u8]) -> Option<String> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut in_title = false;
    let mut title = String::new();
    loop {
        match reader.read_event_into(&mut buf).ok()? {
            Event::Start(e) if e.name().as_ref() == "dc:title" => in_title = true,
            Event::End(e) if e.name().as_ref() == "dc:title" => break,
            Event::Text(t) if in_title => title.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_title => push_ref(&mut title, &r),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    let title = collapse_whitespace(&title);
    (!title.is_empty()).then_some(title)
}

fn push_ref(out: &mut String, r: &quick_xml::events::BytesRef<'_>) {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        out.push(c);
        return;
    }
    match r.xml10_content().as_ref() {
        "amp" => out.push('&'),
        "lt" => out.push('<'),
        "gt" => out.push('>'),
        "quot" => out.push('"'),
        "apos" => out.push('\''),
        _ => {}
    }
}

/// Heading level of a paragraph style: Title is 0 (above Heading1), HeadingN is N.
fn style_level(style: &str) -> Option<u8> {
    let lower = style.to_ascii_lowercase();
    if lower == "title" {
        return Some(0);
    }
    let digits = lower
        .strip_prefix("heading")
        .map(|rest| rest.trim_start_matches([' ', '_']))?;
    let level: u8 = digits.parse().ok()?;
    (1..=6).contains(&level).then_some(level)
}

fn attr_val(e: &BytesStart<'_>) -> Option<String> {
    e.attributes()
        .flatten()
        .find(|a| a.key.as_ref() == "w:val")
        .map(|a| a.value.into_owned())
}

/// The sections of the body, and the first heading's text.
fn body(
    xml: &[u8],
    limits: &Limits,
) -> Result<(Vec<super::Section>, Option<String>), ExtractError> {
    let mut reader = Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut builder = SectionBuilder::new(limits.max_text_bytes);
    let mut first_heading = None;
    let mut paragraph = String::new();
    let mut level: Option<u8> = None;
    let mut in_text = false;
    loop {
        let event = reader.read_event_into(&mut buf).map_err(corrupt)?;
        match event {
            Event::Start(e) if e.name().as_ref() == "w:t" => in_text = true,
            Event::Start(e) | Event::Empty(e) => match e.name().as_ref() {
                "w:p" => {
                    paragraph.clear();
                    level = None;
                }
                "w:pStyle" => {
                    if let Some(l) = attr_val(&e).as_deref().and_then(style_level) {
                        level = Some(l);
                    }
                }
                "w:outlineLvl" if level.is_none() => {
                    level = attr_val(&e)
                        .and_then(|v| v.parse::<u8>().ok())
                        .filter(|l| *l < 6)
                        .map(|l| l + 1);
                }
                "w:tab" => paragraph.push('\t'),
                "w:br" | "w:cr" => paragraph.push('\n'),
                _ => {}
            },
            Event::End(e) => match e.name().as_ref() {
                "w:t" => in_text = false,
                "w:p" => {
                    match level {
                        Some(l) => {
                            if first_heading.is_none() {
                                let h = collapse_whitespace(&paragraph);
                                if !h.is_empty() {
                                    first_heading = Some(h);
                                }
                            }
                            builder.heading(l, &paragraph)?;
                        }
                        None => builder.paragraph(&paragraph)?,
                    }
                    paragraph.clear();
                    level = None;
                }
                _ => {}
            },
            Event::Text(t) if in_text => paragraph.push_str(&t.xml10_content()),
            Event::GeneralRef(r) if in_text => push_ref(&mut paragraph, &r),
            Event::Eof => break,
            _ => {}
        }
        buf.clear();
    }
    builder.paragraph(&paragraph)?;
    Ok((builder.finish(), first_heading))
}

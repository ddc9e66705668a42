//! HTML: rendered to plain text with html2text; its `#`-prefixed heading lines build the
//! heading path and `<title>` is the title.

use super::{ExtractError, Extracted, Format, Limits, SectionBuilder, collapse_whitespace, find};

/// Lines are wrapped by html2text at this width; wide enough to keep paragraphs whole.
const RENDER_WIDTH: usize = 10_000;
/// How far into the page `<title>` is looked for.
const TITLE_SEARCH_BYTES: usize = 64 * 1024;

pub(super) fn extract(html: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let rendered = html2text::config::plain_no_decorate()
        .allow_width_overflow()
        .no_table_borders()
        .string_from_read(html.as_bytes(), RENDER_WIDTH)
        .map_err(|e| ExtractError::Corrupt(format!("the HTML could not be read ({e})")))?;

    let mut builder = SectionBuilder::new(limits.max_text_bytes);
    let mut paragraph = String::new();
    for line in rendered.lines() {
        let line = line.trim_end();
        if let Some((level, heading)) = heading_line(line) {
            builder.paragraph(&paragraph)?;
            paragraph.clear();
            builder.heading(level, heading)?;
        } else if line.trim().is_empty() {
            builder.paragraph(&paragraph)?;
            paragraph.clear();
        } else {
            if !paragraph.is_empty() {
                paragraph.push('\n');
            }
            paragraph.push_str(line);
        }
    }
    builder.paragraph(&paragraph)?;
    Ok(Extracted {
        format: Format::Html,
        title: title(html),
        sections: builder.finish(),
    })
}

/// A rendered heading: `#`..`######`, a space, the heading.
fn heading_line(line: &str) -> Option<(u8, &str)> {
    let hashes = line.bytes().take_while(|b| *b == b'#').count();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let rest = line[hashes..].strip_prefix(' ')?;
    let level = u8::try_from(hashes).ok()?;
    (!rest.trim().is_empty()).then_some((level, rest))
}

fn title(html: &str) -> Option<String> {
    let mut end = html.len().min(TITLE_SEARCH_BYTES);
    while !html.is_char_boundary(end) {
        end -= 1;
    }
    let head = html[..end].to_ascii_lowercase();
    let open = find(head.as_bytes(), b"<title")?;
    let content_start = open + find(&head.as_bytes()[open..], b">")? + 1;
    let content_end = content_start + find(&head.as_bytes()[content_start..], b"</title")?;
    let title = collapse_whitespace(&decode_entities(&html[content_start..content_end]));
    (!title.is_empty()).then_some(title)
}

fn decode_entities(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&apos;", "'")
        .replace("&nbsp;", " ")
        .replace("&amp;", "&")
}

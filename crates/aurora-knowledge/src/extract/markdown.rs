//! Markdown: headings build the heading path; paragraphs, list items, tables and code blocks
//! are kept as plain text.

use pulldown_cmark::{Event, HeadingLevel, Options, Parser, Tag, TagEnd};

use super::{ExtractError, Extracted, Format, Limits, SectionBuilder, collapse_whitespace};

pub(super) fn extract(text: &str, limits: &Limits) -> Result<Extracted, ExtractError> {
    let options = Options::ENABLE_TABLES
        | Options::ENABLE_STRIKETHROUGH
        | Options::ENABLE_TASKLISTS
        | Options::ENABLE_YAML_STYLE_METADATA_BLOCKS
        | Options::ENABLE_PLUSES_DELIMITED_METADATA_BLOCKS;
    let mut builder = SectionBuilder::new(limits.max_text_bytes);
    let mut title = None;
    let mut heading: Option<(u8, String)> = None;
    let mut buf = String::new();
    let mut in_metadata = false;
    let mut in_code = false;

    for event in Parser::new_ext(text, options) {
        match event {
            Event::Start(Tag::Heading { level, .. }) => {
                builder.paragraph(&buf)?;
                buf.clear();
                heading = Some((heading_level(level), String::new()));
            }
            Event::End(TagEnd::Heading(_)) => {
                if let Some((level, text)) = heading.take() {
                    if level == 1 && title.is_none() {
                        let t = collapse_whitespace(&text);
                        if !t.is_empty() {
                            title = Some(t);
                        }
                    }
                    builder.heading(level, &text)?;
                }
            }
            Event::Start(Tag::MetadataBlock(_)) => in_metadata = true,
            Event::End(TagEnd::MetadataBlock(_)) => in_metadata = false,
            Event::Start(Tag::CodeBlock(_)) => {
                builder.paragraph(&buf)?;
                buf.clear();
                in_code = true;
            }
            Event::End(TagEnd::CodeBlock) => {
                in_code = false;
                builder.paragraph(buf.trim_end())?;
                buf.clear();
            }
            Event::Start(Tag::Item) => {
                builder.paragraph(&buf)?;
                buf.clear();
                buf.push_str("- ");
            }
            Event::End(
                TagEnd::Paragraph
                | TagEnd::Item
                | TagEnd::TableRow
                | TagEnd::TableHead
                | TagEnd::BlockQuote(_),
            ) => {
                if buf.trim() != "-" {
                    builder.paragraph(buf.trim_end())?;
                }
                buf.clear();
            }
            Event::End(TagEnd::TableCell) => buf.push_str(" | "),
            Event::Text(t) | Event::Code(t) => {
                if in_metadata {
                    continue;
                }
                match heading.as_mut() {
                    Some((_, h)) => h.push_str(&t),
                    None => buf.push_str(&t),
                }
            }
            Event::SoftBreak => match heading.as_mut() {
                Some((_, h)) => h.push(' '),
                None if in_code => buf.push('\n'),
                None => buf.push(' '),
            },
            Event::HardBreak => buf.push('\n'),
            Event::TaskListMarker(done) => buf.push_str(if done { "[x] " } else { "[ ] " }),
            _ => {}
        }
    }
    builder.paragraph(&buf)?;
    Ok(Extracted {
        format: Format::Markdown,
        title,
        sections: builder.finish(),
    })
}

fn heading_level(level: HeadingLevel) -> u8 {
    match level {
        HeadingLevel::H1 => 1,
        HeadingLevel::H2 => 2,
        HeadingLevel::H3 => 3,
        HeadingLevel::H4 => 4,
        HeadingLevel::H5 => 5,
        HeadingLevel::H6 => 6,
    }
}

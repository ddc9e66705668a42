//! Text extraction on real files made here: PDFs built with lopdf, DOCX built with zip, and
//! the hostile ones (encrypted, corrupt, decompression bombs, binary data posing as text).

use std::io::{Cursor, Write};
use std::time::Duration;

use aurora_knowledge::extract::{ExtractError, Format, Limits, detect, extract};
use flate2::Compression;
use flate2::write::ZlibEncoder;
use lopdf::content::{Content, Operation};
use lopdf::{Document, Object, Stream, dictionary};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipWriter};

const MIB: usize = 1024 * 1024;

fn text_ops(lines: &[&str]) -> Vec<Operation> {
    let mut ops = vec![
        Operation::new("BT", vec![]),
        Operation::new("Tf", vec!["F1".into(), 12.into()]),
        Operation::new("TL", vec![16.into()]),
        Operation::new("Td", vec![72.into(), 720.into()]),
    ];
    for line in lines {
        ops.push(Operation::new("Tj", vec![Object::string_literal(*line)]));
        ops.push(Operation::new("T*", vec![]));
    }
    ops.push(Operation::new("ET", vec![]));
    ops
}

/// A PDF with one page per entry of `pages` (each a list of operations), Helvetica as F1.
fn pdf(pages: Vec<Vec<Operation>>, title: Option<&str>, compress: bool) -> Document {
    let mut doc = Document::with_version("1.5");
    let pages_id = doc.new_object_id();
    let font_id = doc.add_object(dictionary! {
        "Type" => "Font",
        "Subtype" => "Type1",
        "BaseFont" => "Helvetica",
        "Encoding" => "WinAnsiEncoding",
    });
    let resources_id = doc.add_object(dictionary! {
        "Font" => dictionary! { "F1" => font_id },
    });
    let mut kids = Vec::new();
    let count = pages.len() as i64;
    for operations in pages {
        let content = Content { operations }.encode().expect("encode content");
        let content_id = doc.add_object(Stream::new(dictionary! {}, content));
        let page_id = doc.add_object(dictionary! {
            "Type" => "Page",
            "Parent" => pages_id,
            "Contents" => content_id,
            "Resources" => resources_id,
            "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
        });
        kids.push(page_id.into());
    }
    doc.objects.insert(
        pages_id,
        Object::Dictionary(dictionary! { "Type" => "Pages", "Kids" => kids, "Count" => count }),
    );
    let catalog_id = doc.add_object(dictionary! { "Type" => "Catalog", "Pages" => pages_id });
    doc.trailer.set("Root", catalog_id);
    if let Some(title) = title {
        let info_id = doc.add_object(dictionary! { "Title" => Object::string_literal(title) });
        doc.trailer.set("Info", info_id);
    }
    if compress {
        doc.compress();
    }
    doc
}

fn save(mut doc: Document) -> Vec<u8> {
    let mut out = Vec::new();
    doc.save_to(&mut out).expect("save pdf");
    out
}

fn two_page_pdf() -> Vec<u8> {
    save(pdf(
        vec![
            text_ops(&[
                "Payments failover runbook",
                "Promote the replica in eu-west-1.",
            ]),
            text_ops(&["Second page: check the ledger lag."]),
        ],
        Some("Payments Runbook"),
        true,
    ))
}

#[test]
fn pdf_text_and_title_per_page() {
    let bytes = two_page_pdf();
    assert_eq!(
        detect(&bytes, Some("runbook.pdf")).expect("detect"),
        Format::Pdf
    );
    let doc = extract(&bytes, Some("runbook.pdf"), &Limits::default()).expect("extract pdf");
    assert_eq!(doc.format, Format::Pdf);
    assert_eq!(doc.title.as_deref(), Some("Payments Runbook"));
    assert_eq!(doc.sections.len(), 2, "{:?}", doc.sections);
    assert!(
        doc.sections[0].text.contains("Promote the replica"),
        "{:?}",
        doc.sections
    );
    assert!(
        doc.sections[1].text.contains("ledger lag"),
        "{:?}",
        doc.sections
    );
    assert_eq!(doc.sections[1].headings, vec!["Page 2".to_owned()]);
}

#[test]
fn encrypted_pdf_is_refused() {
    let mut doc = pdf(vec![text_ops(&["secret"])], None, true);
    let encrypt_id = doc.add_object(dictionary! {
        "Filter" => "Standard",
        "V" => 1,
        "R" => 2,
        "O" => Object::string_literal(vec![7u8; 32]),
        "U" => Object::string_literal(vec![9u8; 32]),
        "P" => -44,
    });
    doc.trailer.set("Encrypt", encrypt_id);
    let err = extract(&save(doc), None, &Limits::default()).expect_err("encrypted");
    assert!(matches!(err, ExtractError::Encrypted), "{err:?}");
    assert_eq!(err.code(), "encrypted");
    assert!(err.to_string().contains("remove the password"), "{err}");
}

#[test]
fn corrupt_pdfs_are_errors_not_panics() {
    let mut garbage = b"%PDF-1.7\n".to_vec();
    let mut x: u32 = 12345;
    for _ in 0..4096 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        garbage.push((x >> 16) as u8);
    }
    let err = extract(&garbage, None, &Limits::default()).expect_err("garbage");
    assert!(matches!(err, ExtractError::Corrupt(_)), "{err:?}");
    assert_eq!(err.code(), "corrupt");

    let whole = two_page_pdf();
    let truncated = &whole[..whole.len() / 2];
    let err = extract(truncated, None, &Limits::default()).expect_err("truncated");
    assert!(
        matches!(err, ExtractError::Corrupt(_) | ExtractError::NoText(_)),
        "{err:?}"
    );
}

/// zlib of `n` zero bytes, compressed as it streams so memory stays small.
fn zlib_zeros(n: usize) -> Vec<u8> {
    let mut encoder = ZlibEncoder::new(Vec::new(), Compression::best());
    let block = vec![0u8; MIB];
    for _ in 0..n / MIB {
        encoder.write_all(&block).expect("compress");
    }
    encoder.finish().expect("finish")
}

fn bomb_pdf(stream: Vec<u8>, filter: Object) -> Vec<u8> {
    let mut doc = pdf(vec![text_ops(&["looks harmless"])], None, false);
    let mut bomb = Stream::new(dictionary! { "Filter" => filter }, stream);
    bomb.allows_compression = false;
    let bomb_id = doc.add_object(bomb);
    // A second page whose content is the bomb.
    let pages_id = doc
        .catalog()
        .and_then(|c| c.get(b"Pages"))
        .and_then(Object::as_reference)
        .expect("pages");
    let page_id = doc.add_object(dictionary! {
        "Type" => "Page",
        "Parent" => pages_id,
        "Contents" => bomb_id,
        "MediaBox" => vec![0.into(), 0.into(), 612.into(), 792.into()],
    });
    let pages = doc
        .get_object_mut(pages_id)
        .and_then(Object::as_dict_mut)
        .expect("pages dict");
    let mut kids = pages
        .get(b"Kids")
        .and_then(Object::as_array)
        .expect("kids")
        .clone();
    kids.push(page_id.into());
    pages.set("Count", kids.len() as i64);
    pages.set("Kids", kids);
    save(doc)
}

#[test]
fn pdf_decompression_bomb_is_refused_at_default_limits() {
    // 300 MiB of zeros in about 300 KiB.
    let bytes = bomb_pdf(zlib_zeros(300 * MIB), "FlateDecode".into());
    assert!(bytes.len() < 2 * MIB);
    let err = extract(&bytes, None, &Limits::default()).expect_err("bomb");
    assert!(matches!(err, ExtractError::Bomb(_)), "{err:?}");
    assert_eq!(err.code(), "decompression_limit");
}

#[test]
fn nested_zlib_bomb_is_refused() {
    let inner = zlib_zeros(64 * MIB);
    let mut outer = ZlibEncoder::new(Vec::new(), Compression::best());
    outer.write_all(&inner).expect("compress");
    let outer = outer.finish().expect("finish");
    let bytes = bomb_pdf(
        outer,
        Object::Array(vec!["FlateDecode".into(), "FlateDecode".into()]),
    );
    let limits = Limits {
        max_decompressed_bytes: 8 * MIB as u64,
        ..Limits::default()
    };
    let err = extract(&bytes, None, &limits).expect_err("bomb");
    assert!(matches!(err, ExtractError::Bomb(_)), "{err:?}");
}

fn ascii85(data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    for group in data.chunks(4) {
        let mut word = [0u8; 4];
        word[..group.len()].copy_from_slice(group);
        let mut value = u32::from_be_bytes(word);
        let mut digits = [0u8; 5];
        for d in digits.iter_mut().rev() {
            *d = (value % 85) as u8 + b'!';
            value /= 85;
        }
        out.extend_from_slice(&digits[..group.len() + 1]);
    }
    out.extend_from_slice(b"~>");
    out
}

#[test]
fn ascii85_wrapped_zlib_bomb_is_refused() {
    let bytes = bomb_pdf(
        ascii85(&zlib_zeros(64 * MIB)),
        Object::Array(vec!["ASCII85Decode".into(), "FlateDecode".into()]),
    );
    let limits = Limits {
        max_decompressed_bytes: 8 * MIB as u64,
        ..Limits::default()
    };
    let err = extract(&bytes, None, &limits).expect_err("bomb");
    assert!(matches!(err, ExtractError::Bomb(_)), "{err:?}");
}

#[test]
fn pdf_without_text_says_ocr_is_not_supported() {
    let drawing = vec![
        Operation::new("re", vec![100.into(), 100.into(), 200.into(), 150.into()]),
        Operation::new("f", vec![]),
    ];
    let bytes = save(pdf(vec![drawing], None, true));
    let err = extract(&bytes, None, &Limits::default()).expect_err("no text");
    assert!(matches!(err, ExtractError::NoText(_)), "{err:?}");
    assert_eq!(err.code(), "no_text");
    assert!(err.to_string().contains("OCR is not supported"), "{err}");
}

const CONTENT_TYPES: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="xml" ContentType="application/xml"/><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>"#;

const DOCUMENT_XML: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Payments</w:t></w:r></w:p>
<w:p><w:r><w:t xml:space="preserve">The ledger &amp; the </w:t></w:r><w:r><w:t>queue.</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading2"/></w:pPr><w:r><w:t>Failover</w:t></w:r></w:p>
<w:p><w:r><w:t>Promote</w:t></w:r><w:r><w:tab/><w:t>the replica.</w:t></w:r></w:p>
<w:p><w:pPr><w:pStyle w:val="Heading1"/></w:pPr><w:r><w:t>Contacts</w:t></w:r></w:p>
<w:p><w:r><w:t>Page the on-call.</w:t></w:r></w:p>
<w:sectPr/></w:body></w:document>"#;

const CORE_XML: &str = r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?>
<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" xmlns:dc="http://purl.org/dc/elements/1.1/"><dc:title>Payments Handbook</dc:title></cp:coreProperties>"#;

fn docx(parts: &[(&str, &[u8])]) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, data) in parts {
        zip.start_file(*name, options).expect("start file");
        zip.write_all(data).expect("write");
    }
    zip.finish().expect("finish zip").into_inner()
}

#[test]
fn docx_headings_and_title() {
    let bytes = docx(&[
        ("[Content_Types].xml", CONTENT_TYPES.as_bytes()),
        ("word/document.xml", DOCUMENT_XML.as_bytes()),
        ("docProps/core.xml", CORE_XML.as_bytes()),
    ]);
    assert_eq!(detect(&bytes, None).expect("detect"), Format::Docx);
    let doc = extract(&bytes, Some("handbook.docx"), &Limits::default()).expect("extract docx");
    assert_eq!(doc.format, Format::Docx);
    assert_eq!(doc.title.as_deref(), Some("Payments Handbook"));
    let sections: Vec<(Vec<&str>, &str)> = doc
        .sections
        .iter()
        .map(|s| {
            (
                s.headings.iter().map(String::as_str).collect(),
                s.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        sections,
        vec![
            (vec!["Payments"], "The ledger & the queue."),
            (vec!["Payments", "Failover"], "Promote\tthe replica."),
            (vec!["Contacts"], "Page the on-call."),
        ]
    );

    // Without core.xml the first heading is the title.
    let bytes = docx(&[("word/document.xml", DOCUMENT_XML.as_bytes())]);
    let doc = extract(&bytes, None, &Limits::default()).expect("extract docx");
    assert_eq!(doc.title.as_deref(), Some("Payments"));
}

/// A DOCX whose document.xml is `size` bytes, nearly all one letter, written as it streams.
fn docx_bomb(size: usize) -> Vec<u8> {
    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .large_file(true);
    zip.start_file("word/document.xml", options).expect("start");
    zip.write_all(b"<w:document xmlns:w=\"w\"><w:body><w:p><w:r><w:t>")
        .expect("write");
    let block = vec![b'a'; MIB];
    for _ in 0..size / MIB {
        zip.write_all(&block).expect("write");
    }
    zip.write_all(b"</w:t></w:r></w:p></w:body></w:document>")
        .expect("write");
    zip.finish().expect("finish").into_inner()
}

#[test]
fn docx_zip_bomb_is_refused() {
    let bytes = docx_bomb(64 * MIB);
    assert!(bytes.len() < MIB, "{}", bytes.len());
    let limits = Limits {
        max_decompressed_bytes: 8 * MIB as u64,
        ..Limits::default()
    };
    let err = extract(&bytes, None, &limits).expect_err("bomb");
    assert!(matches!(err, ExtractError::Bomb(_)), "{err:?}");
    assert_eq!(err.code(), "decompression_limit");

    // Within the size limit but inflating about 1000:1.
    let err = extract(&docx_bomb(20 * MIB), None, &Limits::default()).expect_err("ratio");
    assert!(matches!(err, ExtractError::Bomb(_)), "{err:?}");
}

#[test]
fn zip_that_is_not_docx_is_unsupported() {
    let bytes = docx(&[("notes.txt", b"hello".as_slice())]);
    let err = detect(&bytes, Some("notes.docx")).expect_err("not docx");
    assert!(matches!(err, ExtractError::Unsupported(_)), "{err:?}");
}

#[test]
fn binary_named_markdown_is_unsupported() {
    let mut bytes = Vec::new();
    let mut x: u32 = 7;
    for _ in 0..2048 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12345);
        bytes.push((x >> 16) as u8);
    }
    let err = extract(&bytes, Some("x.md"), &Limits::default()).expect_err("binary");
    assert!(matches!(err, ExtractError::Unsupported(_)), "{err:?}");
    assert_eq!(err.code(), "unsupported_format");

    // Control bytes without NULs, not valid UTF-8: still binary.
    let bytes: Vec<u8> = (0..4096u32)
        .map(|i| [0x01, 0x02, 0xFF, 0x80, b'a'][i as usize % 5])
        .collect();
    let err = extract(&bytes, Some("x.md"), &Limits::default()).expect_err("binary");
    assert!(matches!(err, ExtractError::Unsupported(_)), "{err:?}");
}

#[test]
fn empty_and_blank_files() {
    let err = extract(b"", Some("a.txt"), &Limits::default()).expect_err("empty");
    assert!(matches!(err, ExtractError::Empty), "{err:?}");
    assert_eq!(err.code(), "empty_file");

    let err = extract(b" \n\t\r\n  ", Some("a.txt"), &Limits::default()).expect_err("blank");
    assert!(matches!(err, ExtractError::NoText(_)), "{err:?}");
    assert_eq!(err.code(), "no_text");
}

#[test]
fn size_limits() {
    let limits = Limits {
        max_input_bytes: 10,
        ..Limits::default()
    };
    let err = extract(b"0123456789abc", None, &limits).expect_err("input");
    assert!(matches!(err, ExtractError::TooLarge(_)), "{err:?}");
    assert_eq!(err.code(), "too_large");

    let limits = Limits {
        max_text_bytes: 1024,
        ..Limits::default()
    };
    let text = "word ".repeat(1000);
    let err = extract(text.as_bytes(), None, &limits).expect_err("text");
    assert!(matches!(err, ExtractError::TooLarge(_)), "{err:?}");
    assert!(err.to_string().contains("1 KiB"), "{err}");
}

#[test]
fn html_text_title_and_headings() {
    let html = "<!DOCTYPE html><html><head><title>Payments &amp; Failover</title>\
        <style>body { color: red }</style></head><body>\
        <h1>Payments</h1><p>The ledger is <b>append-only</b>.</p>\
        <h2>Failover</h2><p>Promote the replica.</p><ul><li>Check lag</li></ul>\
        <script>var x = 1;</script></body></html>";
    assert_eq!(detect(html.as_bytes(), None).expect("detect"), Format::Html);
    let doc = extract(html.as_bytes(), Some("page.html"), &Limits::default()).expect("html");
    assert_eq!(doc.format, Format::Html);
    assert_eq!(doc.title.as_deref(), Some("Payments & Failover"));
    let all = doc.text();
    assert!(all.contains("The ledger is append-only."), "{doc:?}");
    assert!(all.contains("Check lag"), "{doc:?}");
    assert!(!all.contains("var x"), "{doc:?}");
    assert!(!all.contains("color: red"), "{doc:?}");
    let failover = doc
        .sections
        .iter()
        .find(|s| s.text.contains("Promote"))
        .expect("failover section");
    assert_eq!(
        failover.headings,
        vec!["Payments".to_owned(), "Failover".to_owned()]
    );
}

#[test]
fn markdown_heading_paths() {
    let md = "\u{feff}# Payments\r\n\r\nIntro *text*.\r\n\r\n## Failover\r\n\r\nPromote the \
              replica.\r\n\r\n```sh\r\nkubectl rollout restart\r\n```\r\n\r\n### Checks\r\n\r\n\
              - lag below 1s\r\n- ledger ok\r\n\r\n# Contacts\r\n\r\nPage `oncall`.\r\n";
    assert_eq!(
        detect(md.as_bytes(), None).expect("detect"),
        Format::Markdown
    );
    let doc = extract(md.as_bytes(), Some("runbook.md"), &Limits::default()).expect("md");
    assert_eq!(doc.format, Format::Markdown);
    assert_eq!(doc.title.as_deref(), Some("Payments"));
    let sections: Vec<(Vec<&str>, &str)> = doc
        .sections
        .iter()
        .map(|s| {
            (
                s.headings.iter().map(String::as_str).collect(),
                s.text.as_str(),
            )
        })
        .collect();
    assert_eq!(
        sections,
        vec![
            (vec!["Payments"], "Intro text."),
            (
                vec!["Payments", "Failover"],
                "Promote the replica.\n\nkubectl rollout restart"
            ),
            (
                vec!["Payments", "Failover", "Checks"],
                "- lag below 1s\n\n- ledger ok"
            ),
            (vec!["Contacts"], "Page oncall."),
        ]
    );
}

#[test]
fn plain_text_and_detection_hints() {
    let doc = extract(
        b"line one\r\nline two\r\n",
        Some("notes.txt"),
        &Limits::default(),
    )
    .expect("text");
    assert_eq!(doc.format, Format::Text);
    assert_eq!(doc.title, None);
    assert_eq!(doc.sections[0].text, "line one\nline two");

    assert_eq!(detect(b"just words", None).expect("detect"), Format::Text);
    assert_eq!(
        detect(b"just words", Some("a.md")).expect("detect"),
        Format::Markdown
    );
    assert_eq!(
        detect(b"# Title\n\nbody", None).expect("detect"),
        Format::Markdown
    );
    // The name does not make a PDF text.
    assert_eq!(
        detect(&two_page_pdf(), Some("a.txt")).expect("detect"),
        Format::Pdf
    );
    // Latin-1 text is text.
    let doc = extract(b"caf\xe9 cr\xe8me", None, &Limits::default()).expect("latin1");
    assert_eq!(doc.sections[0].text, "café crème");
    assert_eq!(Format::Markdown.as_str(), "markdown");
}

#[test]
fn timeout_gives_timed_out() {
    let md = "# Heading\n\nSome words here and there.\n\n".repeat(100_000);
    let limits = Limits {
        timeout: Duration::from_nanos(1),
        ..Limits::default()
    };
    let err = extract(md.as_bytes(), Some("big.md"), &limits).expect_err("timeout");
    assert!(matches!(err, ExtractError::TimedOut(_)), "{err:?}");
    assert_eq!(err.code(), "timed_out");
}

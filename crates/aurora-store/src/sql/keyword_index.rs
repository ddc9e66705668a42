//! Keyword search's inverted index, kept in the primary store on both backends.
//!
//! FTS5's `bm25()` and PostgreSQL's `ts_rank_cd()` score every chunk that matches any query
//! term, and each score costs a lookup per match (FTS5 reads the chunk's size from a side
//! table; PostgreSQL reads the chunk's whole `tsvector`): about 1.6 µs a match on SQLite, so a
//! 3-term query that matches 45,000 of 100,000 chunks took 60-75 ms there and over 300 ms on
//! PostgreSQL. Here each term's postings (chunk id, frequency of the term in the chunk, chunk
//! length) are packed, up to [`BLOCK`] to a row, in `keyword_postings`. A query reads its terms'
//! rows (a few hundred for common terms) and scores them in memory with BM25 on the
//! organisation's current statistics: exact, and the same ranking on both backends.
//!
//! Writes change the index in the transaction that changes the chunks ([`KeywordChanges`],
//! [`apply`]). The organisation's row in `keyword_stats` is updated first, which also takes its
//! row lock on PostgreSQL, so concurrent writers of one organisation take turns on the blocks.

use std::collections::{BTreeMap, HashMap};

use aurora_core::StoreError;
use aurora_core::ids::OrgId;
use aurora_core::knowledge::is_stopword;
use rust_stemmers::{Algorithm, Stemmer};
use sqlx::any::AnyRow;
use sqlx::{Any, AnyPool, AssertSqlSafe, Row, Transaction};

use super::{Backend, db_error};

/// Postings per row of `keyword_postings`. A write rewrites the last block of each term it
/// touches; a query reads `df / BLOCK` rows per term.
const BLOCK: usize = 256;

/// Longer words (hashes, encoded data) are not indexed, in bytes.
const MAX_TERM_BYTES: usize = 40;

/// BM25's term-frequency saturation and length normalisation (the usual defaults, also
/// FTS5's and Lucene's).
const K1: f32 = 1.2;
const B: f32 = 0.75;

/// Terms per statement when reading blocks (7 parameters each), blocks per multi-row insert (6
/// each) and per delete (3 each).
const TERMS_PER_STATEMENT: usize = 50;
const BLOCKS_PER_INSERT: usize = 50;
const BLOCKS_PER_DELETE: usize = 100;

/// One chunk in a term's postings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Posting {
    chunk: i64,
    /// Occurrences of the term in the chunk.
    tf: u32,
    /// The chunk's length in indexed terms.
    len: u32,
}

fn stemmer() -> Stemmer {
    Stemmer::create(Algorithm::English)
}

/// Calls `each` with the indexed form of every word of `text`, in order: words are runs of
/// letters and digits, lower-cased, stopwords and over-long words left out, stemmed (Snowball
/// English, so "payments" and "payment" meet).
fn for_each_term(stemmer: &Stemmer, text: &str, mut each: impl FnMut(String)) {
    for word in text.split(|c: char| !c.is_alphanumeric()) {
        if word.is_empty() || word.len() > MAX_TERM_BYTES {
            continue;
        }
        let word = word.to_lowercase();
        if is_stopword(&word) {
            continue;
        }
        each(stemmer.stem(&word).into_owned());
    }
}

/// The distinct indexed terms of a query's words.
fn query_terms(words: &[String]) -> Vec<String> {
    let stemmer = stemmer();
    let mut terms: Vec<String> = Vec::new();
    for word in words {
        for_each_term(&stemmer, word, |term| {
            if !terms.contains(&term) {
                terms.push(term);
            }
        });
    }
    terms
}

/// A chunk's terms with their frequencies, and its length in terms. The context (the headings
/// above the chunk) is indexed with the text.
fn chunk_terms(stemmer: &Stemmer, context: &str, text: &str) -> (HashMap<String, u32>, u32) {
    let mut counts: HashMap<String, u32> = HashMap::new();
    let mut len = 0u32;
    for part in [context, text] {
        for_each_term(stemmer, part, |term| {
            *counts.entry(term).or_default() += 1;
            len = len.saturating_add(1);
        });
    }
    (counts, len)
}

fn put_varint(out: &mut Vec<u8>, mut value: u64) {
    while value >= 0x80 {
        out.push((value as u8) | 0x80);
        value >>= 7;
    }
    out.push(value as u8);
}

fn get_varint(data: &[u8], at: &mut usize) -> Result<u64, StoreError> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let Some(&byte) = data.get(*at) else {
            return Err(corrupt("a posting is cut short"));
        };
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err(corrupt("a number is longer than 64 bits"))
}

fn corrupt(what: &str) -> StoreError {
    StoreError::Backend(format!(
        "the keyword index is damaged ({what}); re-index the knowledge base's documents"
    ))
}

/// Postings sorted by chunk, as stored: per posting the gap to the previous chunk id, the term
/// frequency and the chunk length, as LEB128 varints (about 4 bytes a posting).
fn encode(postings: &[Posting]) -> Vec<u8> {
    let mut out = Vec::with_capacity(postings.len() * 4);
    let mut previous = 0i64;
    for p in postings {
        put_varint(&mut out, p.chunk.wrapping_sub(previous) as u64);
        put_varint(&mut out, u64::from(p.tf));
        put_varint(&mut out, u64::from(p.len));
        previous = p.chunk;
    }
    out
}

/// Appends the postings of `data` to `out`.
fn decode(data: &[u8], out: &mut Vec<Posting>) -> Result<(), StoreError> {
    let mut at = 0;
    let mut chunk = 0i64;
    while at < data.len() {
        chunk = chunk.wrapping_add(get_varint(data, &mut at)? as i64);
        let tf = u32::try_from(get_varint(data, &mut at)?).map_err(|_| corrupt("tf"))?;
        let len = u32::try_from(get_varint(data, &mut at)?).map_err(|_| corrupt("length"))?;
        out.push(Posting { chunk, tf, len });
    }
    Ok(())
}

/// What one transaction does to an organisation's index: chunks added and removed.
#[derive(Default)]
pub(crate) struct KeywordChanges {
    terms: BTreeMap<String, TermChange>,
    chunks: i64,
    tokens: i64,
}

#[derive(Default)]
struct TermChange {
    added: Vec<Posting>,
    removed: Vec<i64>,
}

impl KeywordChanges {
    pub(crate) fn add(&mut self, chunk: i64, context: &str, text: &str) {
        let (counts, len) = chunk_terms(&stemmer(), context, text);
        for (term, tf) in counts {
            self.terms
                .entry(term)
                .or_default()
                .added
                .push(Posting { chunk, tf, len });
        }
        self.chunks += 1;
        self.tokens += i64::from(len);
    }

    pub(crate) fn remove(&mut self, chunk: i64, context: &str, text: &str) {
        let (counts, len) = chunk_terms(&stemmer(), context, text);
        for term in counts.into_keys() {
            self.terms.entry(term).or_default().removed.push(chunk);
        }
        self.chunks -= 1;
        self.tokens -= i64::from(len);
    }

    fn is_empty(&self) -> bool {
        self.terms.is_empty() && self.chunks == 0 && self.tokens == 0
    }
}

/// A stored block of one term's postings.
struct Block {
    term: String,
    first: i64,
    last: i64,
    count: i64,
    data: Vec<u8>,
}

impl Block {
    fn new(term: &str, postings: &[Posting]) -> Self {
        Self {
            term: term.to_owned(),
            first: postings.first().map_or(0, |p| p.chunk),
            last: postings.last().map_or(0, |p| p.chunk),
            count: i64::try_from(postings.len()).unwrap_or(i64::MAX),
            data: encode(postings),
        }
    }
}

/// `existing` (sorted by chunk) without `removed` and with `added` (both sorted), an added
/// posting replacing an existing one of the same chunk.
fn merge(existing: Vec<Posting>, removed: &[i64], added: &[Posting]) -> Vec<Posting> {
    let mut out = Vec::with_capacity(existing.len() + added.len());
    let mut added = added.iter().peekable();
    for p in existing {
        if removed.binary_search(&p.chunk).is_ok() {
            continue;
        }
        while let Some(a) = added.next_if(|a| a.chunk <= p.chunk) {
            out.push(*a);
        }
        if out.last().is_none_or(|last| last.chunk != p.chunk) {
            out.push(p);
        }
    }
    out.extend(added);
    out
}

/// Applies `changes` to `org`'s index in `tx`. Call it after the chunks themselves are written,
/// in the same transaction.
pub(crate) async fn apply(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    org: OrgId,
    changes: KeywordChanges,
) -> Result<(), StoreError> {
    if changes.is_empty() {
        return Ok(());
    }
    let org = org.to_string();
    sqlx::query(
        "INSERT INTO keyword_stats (org_id, chunks, tokens) VALUES ($1, 0, 0) \
         ON CONFLICT (org_id) DO NOTHING",
    )
    .bind(org.clone())
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;
    sqlx::query(
        "UPDATE keyword_stats SET chunks = chunks + $2, tokens = tokens + $3 WHERE org_id = $1",
    )
    .bind(org.clone())
    .bind(changes.chunks)
    .bind(changes.tokens)
    .execute(&mut **tx)
    .await
    .map_err(db_error)?;

    let mut terms: Vec<(String, TermChange)> = changes.terms.into_iter().collect();
    for (_, change) in &mut terms {
        change.added.sort_unstable_by_key(|p| p.chunk);
        change.removed.sort_unstable();
    }
    for batch in terms.chunks(TERMS_PER_STATEMENT) {
        let mut stored = affected_blocks(tx, backend, &org, batch).await?;
        let mut gone: Vec<(String, i64)> = Vec::new();
        let mut fresh: Vec<Block> = Vec::new();
        for (term, change) in batch {
            let mut existing = Vec::new();
            for block in stored.remove(term).unwrap_or_default() {
                decode(&block.data, &mut existing)?;
                gone.push((block.term, block.first));
            }
            let postings = merge(existing, &change.removed, &change.added);
            fresh.extend(postings.chunks(BLOCK).map(|part| Block::new(term, part)));
        }
        delete_blocks(tx, backend, &org, &gone).await?;
        insert_blocks(tx, backend, &org, &fresh).await?;
    }
    Ok(())
}

/// Placeholders in the order their values are bound: `$1, $2, …` on PostgreSQL, anonymous `?`
/// on SQLite, which binds those without looking each name up (a scan of the statement's
/// parameters, which costs the square of their count: milliseconds at 200).
struct Placeholders {
    numbered: bool,
    count: usize,
}

impl Placeholders {
    fn new(backend: Backend) -> Self {
        Self {
            numbered: backend == Backend::Postgres,
            count: 0,
        }
    }

    fn next(&mut self) -> String {
        self.count += 1;
        if self.numbered {
            format!("${}", self.count)
        } else {
            "?".to_owned()
        }
    }
}

/// Per term of `batch`, its stored blocks that the change touches: from the block holding (or
/// preceding) the change's lowest chunk through the last block starting at or below its
/// highest. Appends (the usual case: new chunks have the highest ids) read only the last block.
/// One `SELECT` per term, joined by `UNION ALL`, so each is a range of the primary key: as a
/// join with a list of terms, both SQLite (3.51) and PostgreSQL may walk all of the
/// organisation's blocks instead.
async fn affected_blocks(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    org: &str,
    batch: &[(String, TermChange)],
) -> Result<HashMap<String, Vec<Block>>, StoreError> {
    let mut p = Placeholders::new(backend);
    let mut selects = Vec::with_capacity(batch.len());
    let mut binds = Vec::with_capacity(batch.len());
    for (term, change) in batch {
        let ids = change
            .added
            .iter()
            .map(|p| p.chunk)
            .chain(change.removed.iter().copied());
        let (lo, hi) = ids.fold((i64::MAX, i64::MIN), |(lo, hi), id| {
            (lo.min(id), hi.max(id))
        });
        selects.push(format!(
            "SELECT * FROM (SELECT term, first_chunk, last_chunk, postings, data \
             FROM keyword_postings WHERE org_id = {} AND term = {} AND first_chunk <= {} \
             AND first_chunk >= COALESCE((SELECT max(first_chunk) FROM keyword_postings \
             WHERE org_id = {} AND term = {} AND first_chunk <= {}), {})) AS t{}",
            p.next(),
            p.next(),
            p.next(),
            p.next(),
            p.next(),
            p.next(),
            p.next(),
            selects.len()
        ));
        binds.push((term, lo, hi));
    }
    let mut query = sqlx::query(AssertSqlSafe(selects.join(" UNION ALL ")));
    for (term, lo, hi) in binds {
        query = query
            .bind(org.to_owned())
            .bind(term.clone())
            .bind(hi)
            .bind(org.to_owned())
            .bind(term.clone())
            .bind(lo)
            .bind(lo);
    }
    let mut blocks: HashMap<String, Vec<Block>> = HashMap::new();
    for row in query.fetch_all(&mut **tx).await.map_err(db_error)? {
        let block = block_from_row(&row)?;
        blocks.entry(block.term.clone()).or_default().push(block);
    }
    for list in blocks.values_mut() {
        list.sort_unstable_by_key(|b| b.first);
    }
    Ok(blocks)
}

fn block_from_row(row: &AnyRow) -> Result<Block, StoreError> {
    Ok(Block {
        term: row.try_get("term").map_err(db_error)?,
        first: row.try_get("first_chunk").map_err(db_error)?,
        last: row.try_get("last_chunk").map_err(db_error)?,
        count: row.try_get("postings").map_err(db_error)?,
        data: row.try_get("data").map_err(db_error)?,
    })
}

async fn delete_blocks(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    org: &str,
    blocks: &[(String, i64)],
) -> Result<(), StoreError> {
    for part in blocks.chunks(BLOCKS_PER_DELETE) {
        // Each alternative names the whole key: with `org_id = ? AND (…)` SQLite scans the
        // organisation's rows instead of looking each key up.
        let mut p = Placeholders::new(backend);
        let keys: Vec<String> = (0..part.len())
            .map(|_| {
                format!(
                    "(org_id = {} AND term = {} AND first_chunk = {})",
                    p.next(),
                    p.next(),
                    p.next()
                )
            })
            .collect();
        let sql = format!("DELETE FROM keyword_postings WHERE {}", keys.join(" OR "));
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for (term, first) in part {
            query = query.bind(org.to_owned()).bind(term.clone()).bind(*first);
        }
        query.execute(&mut **tx).await.map_err(db_error)?;
    }
    Ok(())
}

async fn insert_blocks(
    tx: &mut Transaction<'static, Any>,
    backend: Backend,
    org: &str,
    blocks: &[Block],
) -> Result<(), StoreError> {
    for part in blocks.chunks(BLOCKS_PER_INSERT) {
        let mut p = Placeholders::new(backend);
        let rows: Vec<String> = (0..part.len())
            .map(|_| {
                let row: Vec<String> = (0..6).map(|_| p.next()).collect();
                format!("({})", row.join(", "))
            })
            .collect();
        let sql = format!(
            "INSERT INTO keyword_postings (org_id, term, first_chunk, last_chunk, postings, data) \
             VALUES {}",
            rows.join(", ")
        );
        let mut query = sqlx::query(AssertSqlSafe(sql));
        for block in part {
            query = query
                .bind(org.to_owned())
                .bind(block.term.clone())
                .bind(block.first)
                .bind(block.last)
                .bind(block.count)
                .bind(block.data.clone());
        }
        query.execute(&mut **tx).await.map_err(db_error)?;
    }
    Ok(())
}

/// A chunk's BM25 score for a query.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Scored {
    pub(crate) chunk: i64,
    score: f32,
}

/// BM25's inverse document frequency, in the form that is never negative (Lucene's).
fn idf(chunks: f64, df: f64) -> f32 {
    (1.0 + (chunks - df + 0.5) / (df + 0.5)).ln() as f32
}

/// `org`'s chunks that contain any of `terms` (query words, see [`query_terms`]), best first by
/// BM25 (ties by chunk id); only the first `limit` when given.
pub(crate) async fn search(
    pool: &AnyPool,
    backend: Backend,
    org: OrgId,
    terms: &[String],
    limit: Option<usize>,
) -> Result<Vec<Scored>, StoreError> {
    let terms = query_terms(terms);
    if terms.is_empty() || limit == Some(0) {
        return Ok(Vec::new());
    }
    let org = org.to_string();
    let Some(stats) = sqlx::query("SELECT chunks, tokens FROM keyword_stats WHERE org_id = $1")
        .bind(org.clone())
        .fetch_optional(pool)
        .await
        .map_err(db_error)?
    else {
        return Ok(Vec::new());
    };
    let chunks: i64 = stats.try_get("chunks").map_err(db_error)?;
    let tokens: i64 = stats.try_get("tokens").map_err(db_error)?;
    if chunks <= 0 {
        return Ok(Vec::new());
    }
    let mut p = Placeholders::new(backend);
    let org_placeholder = p.next();
    let list: Vec<String> = terms.iter().map(|_| p.next()).collect();
    let sql = format!(
        "SELECT term, data FROM keyword_postings \
         WHERE org_id = {org_placeholder} AND term IN ({}) ORDER BY term, first_chunk",
        list.join(", ")
    );
    let mut query = sqlx::query(AssertSqlSafe(sql)).bind(org);
    for term in &terms {
        query = query.bind(term.clone());
    }
    let rows = query.fetch_all(pool).await.map_err(db_error)?;

    // Each term's postings, in chunk order (blocks come in order and do not overlap).
    let mut lists: Vec<Vec<Posting>> = Vec::new();
    let mut current: Option<String> = None;
    for row in &rows {
        let term: String = row.try_get("term").map_err(db_error)?;
        let data: Vec<u8> = row.try_get("data").map_err(db_error)?;
        if current.as_deref() != Some(term.as_str()) {
            lists.push(Vec::new());
            current = Some(term);
        }
        if let Some(list) = lists.last_mut() {
            decode(&data, list)?;
        }
    }
    let average = tokens.max(1) as f32 / chunks as f32;
    let weights: Vec<Vec<Scored>> = lists
        .iter()
        .map(|list| {
            let idf = idf(chunks as f64, list.len() as f64);
            list.iter()
                .map(|p| {
                    let tf = p.tf as f32;
                    let norm = K1 * (1.0 - B + B * p.len as f32 / average);
                    Scored {
                        chunk: p.chunk,
                        score: idf * tf * (K1 + 1.0) / (tf + norm),
                    }
                })
                .collect()
        })
        .collect();
    Ok(best(&weights, limit))
}

/// The chunks of the sorted weight lists, their weights summed, best first.
fn best(lists: &[Vec<Scored>], limit: Option<usize>) -> Vec<Scored> {
    let mut at = vec![0usize; lists.len()];
    let mut totals: Vec<Scored> = Vec::with_capacity(lists.iter().map(Vec::len).max().unwrap_or(0));
    // The lowest chunk id under any cursor; every list holding it adds its weight.
    while let Some(chunk) = lists
        .iter()
        .zip(&at)
        .filter_map(|(list, &i)| list.get(i).map(|s| s.chunk))
        .min()
    {
        let mut score = 0.0;
        for (list, i) in lists.iter().zip(at.iter_mut()) {
            if let Some(s) = list.get(*i)
                && s.chunk == chunk
            {
                score += s.score;
                *i += 1;
            }
        }
        totals.push(Scored { chunk, score });
    }
    let order = |a: &Scored, b: &Scored| b.score.total_cmp(&a.score).then(a.chunk.cmp(&b.chunk));
    if let Some(limit) = limit
        && limit < totals.len()
    {
        totals.select_nth_unstable_by(limit, order);
        totals.truncate(limit);
    }
    totals.sort_unstable_by(order);
    totals
}

/// Indexes the chunks of every organisation that has chunks but no index yet: databases made
/// before this index existed, once. Returns the chunks indexed.
pub(crate) async fn build_missing(writer: &AnyPool, backend: Backend) -> Result<u64, StoreError> {
    let orgs: Vec<String> = sqlx::query(
        "SELECT DISTINCT d.org_id FROM documents d WHERE d.chunk_count > 0 \
         AND NOT EXISTS (SELECT 1 FROM keyword_stats s WHERE s.org_id = d.org_id)",
    )
    .fetch_all(writer)
    .await
    .map_err(db_error)?
    .iter()
    .map(|row| row.try_get("org_id"))
    .collect::<Result<_, _>>()
    .map_err(db_error)?;
    let mut indexed = 0u64;
    for org in orgs {
        let org_id: OrgId = org
            .parse()
            .map_err(|_| StoreError::Backend(format!("bad organisation id {org:?}")))?;
        let mut tx = writer.begin().await.map_err(db_error)?;
        // Another process may have built it meanwhile: the stats row decides, under its lock.
        let claimed = sqlx::query(
            "INSERT INTO keyword_stats (org_id, chunks, tokens) VALUES ($1, 0, 0) \
             ON CONFLICT (org_id) DO NOTHING",
        )
        .bind(org.clone())
        .execute(&mut *tx)
        .await
        .map_err(db_error)?;
        if claimed.rows_affected() == 0 {
            continue;
        }
        let mut after = i64::MIN;
        loop {
            let rows = sqlx::query(
                "SELECT id, context, text FROM document_chunks WHERE org_id = $1 AND id > $2 \
                 ORDER BY id LIMIT 2000",
            )
            .bind(org.clone())
            .bind(after)
            .fetch_all(&mut *tx)
            .await
            .map_err(db_error)?;
            let Some(last) = rows.last() else { break };
            after = last.try_get("id").map_err(db_error)?;
            let mut changes = KeywordChanges::default();
            for row in &rows {
                let id: i64 = row.try_get("id").map_err(db_error)?;
                let context: String = row.try_get("context").map_err(db_error)?;
                let text: String = row.try_get("text").map_err(db_error)?;
                changes.add(id, &context, &text);
            }
            indexed += rows.len() as u64;
            apply(&mut tx, backend, org_id, changes).await?;
        }
        tx.commit().await.map_err(db_error)?;
        tracing::info!(org = %org, backend = backend.name(), indexed, "built the keyword index");
    }
    Ok(indexed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(chunk: i64, tf: u32) -> Posting {
        Posting { chunk, tf, len: 10 }
    }

    #[test]
    fn postings_round_trip_and_damage_is_an_error() {
        let postings = vec![
            Posting {
                chunk: 1,
                tf: 1,
                len: 3,
            },
            Posting {
                chunk: 300,
                tf: 70_000,
                len: 200,
            },
            Posting {
                chunk: i64::MAX,
                tf: 2,
                len: u32::MAX,
            },
        ];
        let data = encode(&postings);
        let mut back = Vec::new();
        decode(&data, &mut back).unwrap();
        assert_eq!(back, postings);
        let mut cut = Vec::new();
        assert!(decode(&data[..data.len() - 1], &mut cut).is_err());
        assert!(decode(&[0xff; 11], &mut cut).is_err());
    }

    #[test]
    fn words_are_lower_cased_stemmed_and_stopwords_dropped() {
        let (counts, len) = chunk_terms(
            &stemmer(),
            "Payments › Failover",
            &format!(
                "The payment service FAILS over; restart {}.",
                "x".repeat(41)
            ),
        );
        let mut terms: Vec<(&str, u32)> = counts.iter().map(|(t, n)| (t.as_str(), *n)).collect();
        terms.sort_unstable();
        assert_eq!(
            terms,
            [
                ("fail", 1),
                ("failov", 1),
                ("over", 1),
                ("payment", 2),
                ("restart", 1),
                ("servic", 1)
            ]
        );
        assert_eq!(len, 7);
        assert_eq!(
            query_terms(&["payments".into(), "failing".into(), "the".into()]),
            ["payment", "fail"]
        );
    }

    #[test]
    fn merge_removes_replaces_and_keeps_order() {
        let existing = vec![p(1, 1), p(3, 1), p(5, 1), p(7, 1)];
        let merged = merge(existing, &[3, 7], &[p(2, 2), p(5, 9), p(8, 1)]);
        assert_eq!(merged, [p(1, 1), p(2, 2), p(5, 9), p(8, 1)]);
        assert_eq!(merge(Vec::new(), &[], &[p(4, 1)]), [p(4, 1)]);
    }

    #[test]
    fn best_sums_the_lists_and_orders_by_score_then_chunk() {
        let s = |chunk, score| Scored { chunk, score };
        let lists = vec![
            vec![s(1, 1.0), s(4, 2.0), s(9, 0.5)],
            vec![s(2, 1.0), s(4, 1.0), s(9, 0.5)],
        ];
        let all = best(&lists, None);
        assert_eq!(all, [s(4, 3.0), s(1, 1.0), s(2, 1.0), s(9, 1.0)]);
        assert_eq!(best(&lists, Some(2)), [s(4, 3.0), s(1, 1.0)]);
    }
}

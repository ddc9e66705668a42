//! What a model turn costs, estimated from its token usage and list prices.
//!
//! The built-in table holds the vendors' published list prices in USD per million tokens for
//! standard (non-batch, non-cached) input and output, as of 2025-06, from
//! <https://openai.com/api/pricing/>, <https://www.anthropic.com/pricing#api> and
//! <https://ai.google.dev/gemini-api/docs/pricing>. Gemini Pro prices are those for prompts
//! under the long-context threshold (128k tokens for 1.5, 200k for 2.5). Prices change: the
//! configuration's overrides win over the table, and a local model (Ollama, vLLM) costs
//! nothing only when an override says so.

use std::collections::HashMap;

use aurora_core::llm::Usage;
use serde::{Deserialize, Serialize};

/// A model's price in USD per million tokens.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelPrice {
    /// Price of a million prompt tokens.
    pub input_usd_per_mtok: f64,
    /// Price of a million answer tokens.
    pub output_usd_per_mtok: f64,
}

impl ModelPrice {
    const fn new(input: f64, output: f64) -> Self {
        Self {
            input_usd_per_mtok: input,
            output_usd_per_mtok: output,
        }
    }

    /// The cost of `usage` at this price, in USD.
    pub fn cost(&self, usage: Usage) -> f64 {
        // Token counts stay far below 2^53, so the conversion is exact.
        #[allow(clippy::cast_precision_loss)]
        let (input, output) = (usage.input_tokens as f64, usage.output_tokens as f64);
        (input * self.input_usd_per_mtok + output * self.output_usd_per_mtok) / 1_000_000.0
    }
}

/// List prices by model family; a model name matches its family, or the family followed by a
/// date or version suffix (`gpt-4o-2024-08-06`, `claude-3-5-sonnet-20241022`,
/// `gemini-2.5-flash-preview-05-20`), the longest family winning.
const BUILT_IN: &[(&str, ModelPrice)] = &[
    ("gpt-4o", ModelPrice::new(2.50, 10.00)),
    // The first gpt-4o snapshot kept its launch price.
    ("gpt-4o-2024-05-13", ModelPrice::new(5.00, 15.00)),
    ("gpt-4o-mini", ModelPrice::new(0.15, 0.60)),
    ("gpt-4.1", ModelPrice::new(2.00, 8.00)),
    ("gpt-4.1-mini", ModelPrice::new(0.40, 1.60)),
    ("gpt-4.1-nano", ModelPrice::new(0.10, 0.40)),
    ("claude-3-5-sonnet", ModelPrice::new(3.00, 15.00)),
    ("claude-3-7-sonnet", ModelPrice::new(3.00, 15.00)),
    ("claude-sonnet-4", ModelPrice::new(3.00, 15.00)),
    ("claude-3-5-haiku", ModelPrice::new(0.80, 4.00)),
    ("claude-opus-4", ModelPrice::new(15.00, 75.00)),
    ("gemini-1.5-flash", ModelPrice::new(0.075, 0.30)),
    ("gemini-1.5-pro", ModelPrice::new(1.25, 5.00)),
    ("gemini-2.0-flash", ModelPrice::new(0.10, 0.40)),
    ("gemini-2.0-flash-lite", ModelPrice::new(0.075, 0.30)),
    ("gemini-2.5-flash", ModelPrice::new(0.30, 2.50)),
    ("gemini-2.5-flash-lite", ModelPrice::new(0.10, 0.40)),
    ("gemini-2.5-pro", ModelPrice::new(1.25, 10.00)),
];

/// Estimates the cost in USD of `usage` on `model`: an override for the exact name first, then
/// overrides and the built-in table by family. `None` when the price is unknown.
///
/// `model` may carry a provider prefix (`openai/gpt-4o`, `models/gemini-2.5-pro`).
pub fn estimate_cost(
    model: &str,
    usage: Usage,
    overrides: &HashMap<String, ModelPrice>,
) -> Option<f64> {
    price_of(model, overrides).map(|price| price.cost(usage))
}

/// The price that applies to `model`, as [`estimate_cost`] finds it.
pub fn price_of(model: &str, overrides: &HashMap<String, ModelPrice>) -> Option<ModelPrice> {
    if let Some(price) = overrides.get(model) {
        return Some(*price);
    }
    let bare = model.rsplit_once('/').map_or(model, |(_, name)| name);
    let bare = bare.rsplit_once("::").map_or(bare, |(_, name)| name);
    let bare = bare.to_ascii_lowercase();
    if let Some(price) = overrides.get(&bare) {
        return Some(*price);
    }
    let from_overrides = best_match(
        &bare,
        overrides
            .iter()
            .map(|(name, price)| (name.as_str(), *price)),
    );
    from_overrides.or_else(|| best_match(&bare, BUILT_IN.iter().copied()))
}

fn best_match<'a>(
    model: &str,
    table: impl Iterator<Item = (&'a str, ModelPrice)>,
) -> Option<ModelPrice> {
    table
        .filter(|(family, _)| in_family(model, family))
        .max_by_key(|(family, _)| family.len())
        .map(|(_, price)| price)
}

/// Whether `model` is `family` itself or a dated/versioned release of it (`-2024-08-06`,
/// `-20241022`, `-002`, `-latest`, `-preview…`, `-exp…`), but not a different model sharing
/// the prefix (`gpt-4o-realtime-preview`).
fn in_family(model: &str, family: &str) -> bool {
    let Some(rest) = model.strip_prefix(family) else {
        return false;
    };
    let Some(suffix) = rest.strip_prefix('-') else {
        return rest.is_empty();
    };
    let first = suffix.split('-').next().unwrap_or_default();
    (!first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()))
        || matches!(first, "latest" | "preview" | "exp")
}

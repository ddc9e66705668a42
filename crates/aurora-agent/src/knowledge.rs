//! `search_knowledge`: the agent's way into the knowledge base (runbooks, postmortems, past
//! incident reports, conversations), answering with chunks and where each came from.

use std::sync::Arc;

use async_trait::async_trait;
use aurora_core::ids::OrgId;
use aurora_core::knowledge::{
    DocumentKind, Embedder, KnowledgeStore, MAX_SEARCH_RESULTS, SearchError, SearchFilter,
    SearchRequest, hybrid_search,
};
use aurora_core::tool::{Tool, ToolEffect, ToolError, ToolOutput, ToolSpec};
use serde::Deserialize;
use serde_json::{Value, json};

pub const SEARCH_KNOWLEDGE: &str = "search_knowledge";
const DEFAULT_K: usize = 5;

/// Searches one organisation's knowledge base.
pub struct SearchKnowledge {
    spec: ToolSpec,
    store: Arc<dyn KnowledgeStore>,
    embedder: Option<Arc<dyn Embedder>>,
    org: OrgId,
}

impl SearchKnowledge {
    pub fn new(
        store: Arc<dyn KnowledgeStore>,
        embedder: Option<Arc<dyn Embedder>>,
        org: OrgId,
    ) -> Self {
        let kinds: Vec<&str> = DocumentKind::ALL.iter().map(|k| k.as_str()).collect();
        Self {
            spec: ToolSpec {
                name: SEARCH_KNOWLEDGE.into(),
                description: "Search the team's knowledge base: runbooks, postmortems, \
                              architecture notes, reports of past incidents and past \
                              conversations. Returns the best-matching passages with their \
                              document, for citing. Use it for how a system works, how a \
                              failure was handled before, and what to do now."
                    .into(),
                parameters: json!({
                    "type": "object",
                    "properties": {
                        "query": {
                            "type": "string",
                            "description": "What to look for, in plain words."
                        },
                        "kinds": {
                            "type": "array",
                            "items": {"type": "string", "enum": kinds},
                            "description": "Only these kinds of documents. Default: all."
                        },
                        "k": {
                            "type": "integer", "minimum": 1, "maximum": MAX_SEARCH_RESULTS,
                            "description": format!("How many passages. Default {DEFAULT_K}.")
                        }
                    },
                    "required": ["query"],
                    "additionalProperties": false
                }),
                effect: ToolEffect::ReadOnly,
            },
            store,
            embedder,
            org,
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Args {
    query: String,
    #[serde(default)]
    kinds: Vec<DocumentKind>,
    k: Option<usize>,
}

#[async_trait]
impl Tool for SearchKnowledge {
    fn spec(&self) -> &ToolSpec {
        &self.spec
    }

    async fn call(&self, args: Value) -> Result<ToolOutput, ToolError> {
        let args: Args = serde_json::from_value(args)
            .map_err(|err| ToolError::InvalidArguments(err.to_string()))?;
        let request = SearchRequest {
            query: args.query,
            filter: SearchFilter {
                kinds: args.kinds,
                ..SearchFilter::default()
            },
            k: Some(args.k.unwrap_or(DEFAULT_K)),
        };
        let results = hybrid_search(
            self.store.as_ref(),
            self.embedder.as_deref(),
            self.org,
            &request,
        )
        .await
        .map_err(|err| match err {
            SearchError::EmptyQuery => {
                ToolError::InvalidArguments("query has no words: say what to look for".into())
            }
            other => ToolError::Failed(other.to_string()),
        })?;
        let passages: Vec<Value> = results
            .hits
            .iter()
            .map(|hit| {
                json!({
                    "document_id": hit.document_id,
                    "title": hit.title,
                    "kind": hit.kind,
                    "incident_id": hit.incident_id,
                    "section": hit.context,
                    "chunk": hit.ordinal,
                    "text": hit.text,
                    "score": (hit.score * 10_000.0).round() / 10_000.0,
                })
            })
            .collect();
        Ok(ToolOutput {
            source: format!("knowledge base ({:?} search)", results.mode),
            content: json!({ "mode": results.mode, "passages": passages }),
            series: Vec::new(),
        })
    }
}

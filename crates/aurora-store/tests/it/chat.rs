use aurora_core::StoreError;
use aurora_core::chat::{ChatMode, ChatSessionUpdate, ChatStore, NewChatSession};
use aurora_core::investigation::{ApprovalStatus, NewStep, StepKind, TRIGGER_CHAT};
use aurora_core::llm::Usage;
use aurora_core::ports::{AccountStore, InvestigationStore};
use aurora_store::SqlStore;
use serde_json::json;
use time::OffsetDateTime;
use time::macros::datetime;

use crate::harness::each_backend;
use crate::investigations::{incident, user};

const T0: OffsetDateTime = datetime!(2026-05-04 10:00 UTC);

#[tokio::test]
async fn chat_sessions_keep_their_messages_in_an_investigation_of_their_own() {
    each_backend(|store: SqlStore| async move {
        let org = store.create_org("A").await.unwrap().id;
        let other = store.create_org("B").await.unwrap().id;
        let ann = user(&store, org, "ann@a.io").await;
        let about = incident(&store, org, "a").await;
        let others_incident = incident(&store, other, "b").await;

        let first = store
            .create_chat_session(
                org,
                NewChatSession {
                    title: "Checkout".into(),
                    mode: ChatMode::Agent,
                    incident: Some(about),
                    created_by: Some(ann),
                },
                T0,
            )
            .await
            .unwrap();
        assert_eq!((first.last_seq, first.usage), (0, Usage::default()));
        assert_eq!(store.get_chat_session(org, first.id).await.unwrap(), first);
        // The log is a running investigation that names no incident, and is not listed.
        let log = store
            .get_investigation(org, first.investigation_id)
            .await
            .unwrap();
        assert_eq!(log.trigger, TRIGGER_CHAT);
        assert_eq!(log.status.as_str(), "running");
        assert_eq!(log.incident_id, None);
        assert!(
            store
                .list_investigations(org, None, 50)
                .await
                .unwrap()
                .is_empty()
        );
        assert_eq!(
            store
                .chat_session_for_investigation(org, first.investigation_id)
                .await
                .unwrap()
                .map(|s| s.id),
            Some(first.id)
        );

        // Another organisation's incident cannot be the subject, nor can it see the session.
        let refused = store
            .create_chat_session(
                org,
                NewChatSession {
                    incident: Some(others_incident),
                    ..NewChatSession::default()
                },
                T0,
            )
            .await;
        assert!(
            matches!(refused, Err(StoreError::NotFound("incident"))),
            "{refused:?}"
        );
        assert!(matches!(
            store.get_chat_session(other, first.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(
            store
                .list_chat_sessions(other, 10)
                .await
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            store
                .update_chat_session(other, first.id, &ChatSessionUpdate::default(), T0)
                .await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.delete_chat_session(other, first.id).await,
            Err(StoreError::NotFound(_))
        ));

        // Steps add to the session's usage and last seq.
        let step = |kind, payload| NewStep {
            usage: Usage {
                input_tokens: 10,
                output_tokens: 2,
            },
            cost_usd: 0.5,
            ..NewStep::new(kind, payload)
        };
        for (kind, payload) in [
            (
                StepKind::Message,
                json!({"role": "user", "content": "why?"}),
            ),
            (
                StepKind::Thought,
                json!({"role": "assistant", "content": "", "tool_calls": []}),
            ),
            (
                StepKind::ToolCall,
                json!({"call_id": "c1", "tool": "silence", "arguments": {}, "mutating": true}),
            ),
        ] {
            store
                .append_step(org, first.investigation_id, step(kind, payload), T0)
                .await
                .unwrap();
        }
        let second = store
            .create_chat_session(org, NewChatSession::default(), T0)
            .await
            .unwrap();
        let later = T0 + time::Duration::minutes(5);
        let renamed = store
            .update_chat_session(
                org,
                first.id,
                &ChatSessionUpdate {
                    title: Some("Checkout latency".into()),
                    mode: Some(ChatMode::Ask),
                },
                later,
            )
            .await
            .unwrap();
        assert_eq!(renamed.title, "Checkout latency");
        assert_eq!(renamed.mode, ChatMode::Ask);
        assert_eq!(renamed.updated_at, later);
        assert_eq!(renamed.last_seq, 3);
        assert_eq!(renamed.usage.input_tokens, 30);
        assert!((renamed.cost_usd - 1.5).abs() < 1e-9);
        // Most recently used first.
        let listed: Vec<_> = store
            .list_chat_sessions(org, 10)
            .await
            .unwrap()
            .into_iter()
            .map(|s| s.id)
            .collect();
        assert_eq!(listed, [first.id, second.id]);

        // An approval and its decision, which the audit log keeps after the session is gone.
        let approval = store
            .create_approval(org, first.investigation_id, 3, "silence", &json!({}))
            .await
            .unwrap();
        store
            .decide_approval(org, approval.id, false, ann, Some("not now"), later)
            .await
            .unwrap();
        let deleted = store.delete_chat_session(org, first.id).await.unwrap();
        assert_eq!(deleted.id, first.id);
        assert!(matches!(
            store.get_chat_session(org, first.id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.get_investigation(org, first.investigation_id).await,
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            store.get_approval(org, approval.id).await,
            Err(StoreError::NotFound(_))
        ));
        let audit = store.list_audit(org, 10).await.unwrap();
        assert_eq!(audit.len(), 1);
        assert_eq!(
            audit[0].action,
            format!("approval.{}", ApprovalStatus::Rejected)
        );
        assert_eq!(audit[0].actor_id, Some(ann));
        assert_eq!(audit[0].actor_name, "Ed");
        assert_eq!(audit[0].at, later);
        assert_eq!(audit[0].details["reason"], "not now");
        assert!(store.list_audit(other, 10).await.unwrap().is_empty());
        assert_eq!(store.list_chat_sessions(org, 10).await.unwrap().len(), 1);
    })
    .await;
}

//! The connectors' integration tests, against real peers found through environment variables.
//! A test whose peer is not configured prints why and passes.

mod alertmanager;
mod peers;
mod prometheus;

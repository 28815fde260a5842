//! outlayer-coordinator
pub mod api;
pub mod auth;
pub mod config;
pub mod db;
pub mod error;
pub mod limits;
pub mod metrics;
pub mod model;
pub mod notify;
pub mod pricing;
pub mod ratelimit;
pub mod receipt;
pub mod redis_link;
pub mod service;
pub mod state;

//! payment-gateway: the gRPC service that alone holds the merchant key. It signs Alipay pay
//! links and calls Alipay's server APIs for the order service, verifying every answer.
//!
//! Modules, from the edge inwards:
//! - [`cli`]: the command line, whose generated `--help` lists every variable;
//! - [`settings`]: environment variables (or code), validated at start-up;
//! - [`startup`]: [`Application`] wires the gRPC server (gateway, health, reflection) and the
//!   small HTTP side together and orders the shutdown; [`RunningGateway`] for tests;
//! - [`service`]: the seven RPCs on the `alipay` crate, with retries for idempotent calls;
//! - [`signing`]: the FIFO pool of threads that sign pay links;
//! - [`error`]: the one error enum, mapped to `tonic::Status` in one place;
//! - [`http`]: `/healthz`, `/readyz`, `/metrics`;
//! - [`metrics`]: the Prometheus registry;
//! - [`keygen`]: the `keygen` subcommand (a new app key pair in the key tool's formats).

pub mod cli;
pub mod error;
pub mod http;
pub mod keygen;
pub mod metrics;
pub mod server_api;
pub mod service;
pub mod settings;
pub mod signing;
pub mod startup;

pub use error::GatewayError;
pub use server_api::ApiVersion;
pub use settings::{RetryPolicy, Settings};
pub use startup::{Application, RunError, RunningGateway, StartupError};

//! The ferromq system runtime: a supervisor that runs the processes a manifest lists, restarts
//! them by their policy and stops them in order, and the service directory it serves so that
//! they find each other by name.
//!
//! A program that only wants sockets depends on `ferromq` alone and compiles none of this.

// One `unsafe` block, in `spawn`: the code a child runs between fork and exec.
#![deny(unsafe_code)]

pub mod control;
mod events;
mod instance;
mod link;
pub mod manifest;
mod output;
mod protocol;
mod registry;
mod restart;
mod serve;
mod shutdown;
mod spawn;
pub mod state_file;
mod supervisor;

pub use events::Exit;
pub use manifest::{Manifest, ManifestError};
pub use spawn::env;
pub use supervisor::{run, Ending};

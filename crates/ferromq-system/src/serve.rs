//! Answering the directory's requests (docs/directory.md) and the supervisor's own (`PS`,
//! `EVENTS`) on its ROUTER.

use std::time::Instant;

use ferromq::Message;

use crate::link::Command;
use crate::protocol::{self, Request};
use crate::registry::Route;
use crate::supervisor::Supervisor;

impl Supervisor {
    /// Handles every request that has arrived, without waiting for more.
    pub(crate) fn serve_pending(&mut self) {
        while let Ok(msg) = self.router.try_recv() {
            let Some((route, request)) = protocol::parse(msg) else {
                continue;
            };
            match request {
                Ok(request) => self.serve(route, request),
                Err(why) => self.send(protocol::reply(&route, ["ERROR".to_string(), why])),
            }
        }
    }

    fn ok(&self, route: &Route) -> Message {
        let ttl = self.registry.ttl().as_millis().to_string();
        protocol::reply(route, ["OK".to_string(), ttl])
    }

    fn serve(&mut self, route: Route, request: Request) {
        let now = Instant::now();
        match request {
            Request::Register {
                owner,
                service,
                endpoints,
            } => {
                self.tell_link(Command::Register {
                    owner: owner.clone(),
                    service: service.clone(),
                    endpoints: endpoints.clone(),
                });
                let answers =
                    self.registry
                        .register(now, route.clone(), &owner, &service, endpoints);
                self.send(self.ok(&route));
                for answer in answers {
                    self.answered_here(&answer.route, &answer.service);
                    self.send(protocol::lookup_reply(
                        &answer.route,
                        &answer.service,
                        &answer.endpoints,
                    ));
                }
                if let Some(index) = self.instances.iter().position(|i| i.owner() == owner) {
                    if self.instances[index].running() {
                        self.mark_ready(index);
                    }
                }
            }
            Request::Unregister { owner, service } => {
                self.registry.unregister(&owner, &service);
                self.send(self.ok(&route));
                self.tell_link(Command::Unregister { owner, service });
            }
            Request::Heartbeat { owner } => {
                if self.registry.heartbeat(now, route.clone(), &owner) {
                    self.send(self.ok(&route));
                } else {
                    self.send(protocol::reply(&route, ["UNKNOWN"]));
                }
            }
            Request::Bye { owner } => {
                if self.registry.remove_owner(&owner) {
                    self.tell_link(Command::Gone { owner });
                }
                self.send(self.ok(&route));
            }
            Request::Lookup { service, wait } => {
                let endpoints = self.registry.lookup(&service);
                if endpoints.is_empty() && self.ask_remote(route.clone(), &service, wait) {
                    // The joined directory answers it (see `remote_answers`).
                } else if endpoints.is_empty() && !wait.is_zero() {
                    self.registry.wait(route, &service, now + wait);
                } else {
                    self.send(protocol::lookup_reply(&route, &service, &endpoints));
                }
            }
            Request::List => {
                let rows = self
                    .registry
                    .services()
                    .into_iter()
                    .map(|(name, endpoints)| format!("{name} {}", endpoints.join(" ")));
                let head = std::iter::once("SERVICES".to_string());
                self.send(protocol::reply(&route, head.chain(rows)));
            }
            Request::Ps => {
                let head = ["PS".to_string(), self.manifest.system_name().to_string()];
                let rows = self.instances.iter().map(|i| {
                    let name = &self.manifest.processes[i.process].name;
                    let pid = i
                        .pid
                        .filter(|_| i.running())
                        .map_or("-".into(), |p| p.to_string());
                    format!(
                        "{name}\t{}\t{pid}\t{}\t{}\t{}\t{}",
                        i.number,
                        i.state.word(),
                        i.restarts,
                        i.uptime(now).as_millis(),
                        i.last_exit.as_deref().unwrap_or("-"),
                    )
                });
                let rows: Vec<String> = rows.collect();
                self.send(protocol::reply(&route, head.into_iter().chain(rows)));
            }
            Request::Events => {
                let head = std::iter::once("EVENTS".to_string());
                self.send(protocol::reply(&route, head.chain(self.events.lines())));
            }
        }
    }
}

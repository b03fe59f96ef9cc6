//! The directory's state, without sockets: which owner offers which service at which
//! endpoints, when each owner was last heard from, and who is waiting for a name to appear.
//! Time is passed in, so the tests drive expiry with made-up instants.

use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

use ferromq::Bytes;

/// Where a reply goes: a ROUTER peer, and whether its requests carried an empty delimiter
/// frame (a REQ client), which the reply must carry too.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub peer: Bytes,
    pub delimiter: bool,
}

#[derive(Debug)]
struct Owner {
    last_seen: Instant,
    /// The connection it spoke on last, for unsolicited messages (STOP).
    route: Route,
    services: BTreeMap<String, Vec<String>>,
}

#[derive(Debug)]
struct Waiter {
    route: Route,
    service: String,
    deadline: Instant,
}

/// A lookup that waited and is now answered: found (with endpoints) or timed out (empty).
#[derive(Debug, PartialEq, Eq)]
pub struct Answer {
    pub route: Route,
    pub service: String,
    pub endpoints: Vec<String>,
}

/// Services by owner, and lookups waiting for services.
#[derive(Debug)]
pub struct Registry {
    ttl: Duration,
    owners: HashMap<String, Owner>,
    waiting: Vec<Waiter>,
}

impl Registry {
    /// Entries outlive their owner's last message by `ttl`.
    pub fn new(ttl: Duration) -> Registry {
        Registry {
            ttl,
            owners: HashMap::new(),
            waiting: Vec::new(),
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    /// Adds (or replaces) `owner`'s entry for `service`; returns the waiting lookups it answers.
    pub fn register(
        &mut self,
        now: Instant,
        route: Route,
        owner: &str,
        service: &str,
        endpoints: Vec<String>,
    ) -> Vec<Answer> {
        let entry = self.owners.entry(owner.to_owned()).or_insert(Owner {
            last_seen: now,
            route: route.clone(),
            services: BTreeMap::new(),
        });
        entry.last_seen = now;
        entry.route = route;
        entry.services.insert(service.to_owned(), endpoints);
        let (found, still): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.service == service);
        self.waiting = still;
        found
            .into_iter()
            .map(|w| Answer {
                route: w.route,
                endpoints: self.lookup(service),
                service: w.service,
            })
            .collect()
    }

    /// Removes one of `owner`'s entries.
    pub fn unregister(&mut self, owner: &str, service: &str) {
        if let Some(entry) = self.owners.get_mut(owner) {
            entry.services.remove(service);
        }
    }

    /// Keeps `owner`'s entries alive; false when the owner is unknown (it expired, or the
    /// directory restarted) and must register again.
    pub fn heartbeat(&mut self, now: Instant, route: Route, owner: &str) -> bool {
        match self.owners.get_mut(owner) {
            Some(entry) => {
                entry.last_seen = now;
                entry.route = route;
                true
            }
            None => false,
        }
    }

    /// Forgets `owner` and everything it offered (it said goodbye, or its process exited).
    pub fn remove_owner(&mut self, owner: &str) -> bool {
        self.owners.remove(owner).is_some()
    }

    /// The connection `owner` spoke on last.
    pub fn route_of(&self, owner: &str) -> Option<&Route> {
        self.owners.get(owner).map(|entry| &entry.route)
    }

    /// Every endpoint offered for `service`, by any owner, in owner order.
    pub fn lookup(&self, service: &str) -> Vec<String> {
        let mut owners: Vec<(&String, &Owner)> = self.owners.iter().collect();
        owners.sort_by_key(|(name, _)| name.as_str());
        owners
            .into_iter()
            .filter_map(|(_, entry)| entry.services.get(service))
            .flatten()
            .cloned()
            .collect()
    }

    /// Every service with its endpoints, sorted by name.
    pub fn services(&self) -> BTreeMap<String, Vec<String>> {
        let mut all: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for service in self.owners.values().flat_map(|e| e.services.keys()) {
            all.entry(service.clone())
                .or_insert_with(|| self.lookup(service));
        }
        all
    }

    /// Parks a lookup until `service` appears or `deadline` passes.
    pub fn wait(&mut self, route: Route, service: &str, deadline: Instant) {
        self.waiting.push(Waiter {
            route,
            service: service.to_owned(),
            deadline,
        });
    }

    /// Takes back a parked lookup (answered another way); false when there is none.
    pub fn take_waiter(&mut self, route: &Route, service: &str) -> bool {
        match self
            .waiting
            .iter()
            .position(|w| w.route == *route && w.service == service)
        {
            Some(index) => {
                self.waiting.remove(index);
                true
            }
            None => false,
        }
    }

    /// Drops owners not heard from within the ttl (returning their names) and answers, empty,
    /// the lookups whose wait is over.
    pub fn expire(&mut self, now: Instant) -> (Vec<String>, Vec<Answer>) {
        let ttl = self.ttl;
        let mut gone: Vec<String> = self
            .owners
            .iter()
            .filter(|(_, e)| now.saturating_duration_since(e.last_seen) > ttl)
            .map(|(name, _)| name.clone())
            .collect();
        gone.sort();
        for name in &gone {
            self.owners.remove(name);
        }
        let (due, still): (Vec<Waiter>, Vec<Waiter>) = std::mem::take(&mut self.waiting)
            .into_iter()
            .partition(|w| w.deadline <= now);
        self.waiting = still;
        let answers = due
            .into_iter()
            .map(|w| Answer {
                route: w.route,
                service: w.service,
                endpoints: Vec::new(),
            })
            .collect();
        (gone, answers)
    }

    /// When [`expire`](Registry::expire) next has something to do.
    pub fn next_deadline(&self) -> Option<Instant> {
        let expiries = self.owners.values().map(|e| e.last_seen + self.ttl);
        let waits = self.waiting.iter().map(|w| w.deadline);
        expiries.chain(waits).min()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(id: &str) -> Route {
        Route {
            peer: Bytes::copy_from_slice(id.as_bytes()),
            delimiter: false,
        }
    }

    #[test]
    fn entries_expire_without_heartbeats_and_return_on_register() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = Registry::new(ms(300));
        r.register(t0, route("a"), "w#1", "work", vec!["tcp://x:1".into()]);
        r.register(t0, route("b"), "w#2", "work", vec!["tcp://x:2".into()]);
        assert_eq!(r.lookup("work"), ["tcp://x:1", "tcp://x:2"]);
        assert!(r.heartbeat(t0 + ms(200), route("a"), "w#1"));
        let (gone, _) = r.expire(t0 + ms(400));
        assert_eq!(gone, ["w#2"]);
        assert_eq!(r.lookup("work"), ["tcp://x:1"]);
        assert!(!r.heartbeat(t0 + ms(400), route("b"), "w#2"));
        let (gone, _) = r.expire(t0 + ms(600));
        assert_eq!(gone, ["w#1"]);
        assert!(r.lookup("work").is_empty());
        r.register(
            t0 + ms(700),
            route("b"),
            "w#2",
            "work",
            vec!["tcp://x:2".into()],
        );
        assert_eq!(r.lookup("work"), ["tcp://x:2"]);
    }

    #[test]
    fn waiting_lookups_are_answered_by_a_register_or_time_out() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut r = Registry::new(ms(1000));
        r.wait(route("c1"), "feed", t0 + ms(100));
        r.wait(route("c2"), "other", t0 + ms(100));
        assert_eq!(r.next_deadline(), Some(t0 + ms(100)));
        let answers = r.register(t0, route("f"), "feed#1", "feed", vec!["ipc://f".into()]);
        assert_eq!(
            answers,
            [Answer {
                route: route("c1"),
                service: "feed".into(),
                endpoints: vec!["ipc://f".into()]
            }]
        );
        let (_, timed_out) = r.expire(t0 + ms(100));
        assert_eq!(timed_out.len(), 1);
        assert_eq!(timed_out[0].route, route("c2"));
        assert!(timed_out[0].endpoints.is_empty());
        assert!(r.remove_owner("feed#1"));
        assert!(r.lookup("feed").is_empty());
    }
}

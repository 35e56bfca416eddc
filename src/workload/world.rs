//! The users and devices that outlive a session of the generator.

use super::client::Client;

/// The users and devices that outlive a session.
#[derive(Debug, Default)]
pub(super) struct World {
    pub(super) users: Vec<User>,
    /// Devices on which someone has logged in; anonymous-only devices are never revisited.
    pub(super) devices: Vec<Device>,
    pub(super) companies: u32,
    pub(super) aliases: u64,
    /// [`Shape::AliasChains`]: the id the next link aliases onto, and the links so far.
    pub(super) chain: Option<(Box<str>, u32)>,
    pub(super) chains: u64,
}

#[derive(Debug)]
pub(super) struct User {
    pub(super) id: Box<str>,
    pub(super) email: Box<str>,
    pub(super) name: Box<str>,
    pub(super) plan: &'static str,
    pub(super) company: Option<u32>,
}

#[derive(Debug)]
pub(super) struct Device {
    pub(super) client: Client,
    /// The user who last logged in on it.
    pub(super) user: usize,
}

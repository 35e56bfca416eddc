//! The options of PostHog's rules. Every default is PostHog's behaviour; options never
//! change it unless set.

/// Options of an [`Engine`](crate::Engine), set through
/// [`EngineBuilder`](crate::EngineBuilder). Every default is PostHog's behaviour.
///
/// ```
/// let engine = idgraph::Engine::builder().filter_churn(false).build();
/// assert!(!engine.config().filter_churn());
/// assert!(engine.config().lift_properties());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    pub(crate) lift_properties: bool,
    pub(crate) filter_churn: bool,
    pub(crate) record_changes: bool,
    pub(crate) max_ids_per_person: Option<u32>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            lift_properties: true,
            filter_churn: true,
            record_changes: true,
            max_ids_per_person: None,
        }
    }
}

impl Config {
    /// Whether event properties such as `$browser` are lifted into person properties
    /// (docs/behaviour.md §3). Default: on.
    #[must_use]
    pub fn lift_properties(&self) -> bool {
        self.lift_properties
    }

    /// Whether ordinary events that only change churning keys are not written
    /// (docs/behaviour.md §7.4). Default: on.
    #[must_use]
    pub fn filter_churn(&self) -> bool {
        self.filter_churn
    }

    /// Whether [`Outcome::changes`](crate::Outcome::changes) is filled. Default: on.
    #[must_use]
    pub fn record_changes(&self) -> bool {
        self.record_changes
    }

    /// The most distinct ids a merge may leave a person with. Default: no limit.
    #[must_use]
    pub fn max_distinct_ids_per_person(&self) -> Option<u32> {
        self.max_ids_per_person
    }
}

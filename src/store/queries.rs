//! Named read queries used by reports, charts and the dashboard.

//! Hostile and faulty peers and applications: malformed requests, abuse
//! limits, failing handlers, slow and vanishing clients.

mod abuse;
mod faults;
mod hostile;
mod slow_clients;
mod vanishing;

//! The .nn language front end (being written).

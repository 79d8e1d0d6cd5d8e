//! The command line client: talks to the server API.

//! The host's names and addresses: hostname, FQDN from `/etc/hosts`, and IP
//! addresses from `ip -j addr` on a live host.

use std::net::IpAddr;
use std::process::Command;

use rivet_core::inventory::Address;
use serde::Deserialize;

/// The host name: the kernel's (`/proc/sys/kernel/hostname`) when the root is
/// live, else `/etc/hostname`; the caller reads the files.
pub fn parse_hostname(text: &str) -> Option<String> {
    text.lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .map(str::to_owned)
}

/// The FQDN as `hostname -f` finds it in `/etc/hosts`: the canonical (first)
/// name of the line that lists the host name, if it has a dot.
pub fn parse_hosts_fqdn(hosts: &str, hostname: &str) -> Option<String> {
    if hostname.contains('.') {
        return Some(hostname.to_owned());
    }
    for line in hosts.lines() {
        let line = line.split('#').next().unwrap_or_default();
        let mut fields = line.split_whitespace();
        let Some(_address) = fields.next() else {
            continue;
        };
        let names: Vec<&str> = fields.collect();
        if names.contains(&hostname) {
            let dotted = names
                .iter()
                .find(|name| name.contains('.') && name.split('.').next() == Some(hostname));
            if let Some(name) = dotted {
                return Some((*name).to_owned());
            }
        }
    }
    None
}

/// Why the addresses could not be read.
#[derive(Debug, thiserror::Error)]
pub enum AddressError {
    /// `ip` could not be run or failed.
    #[error("cannot run ip -j addr: {0}")]
    Invoke(String),
    /// Its output is not the JSON expected.
    #[error("cannot parse the output of ip -j addr: {0}")]
    Parse(#[from] serde_json::Error),
}

/// Runs `ip -j addr` and parses its output.
pub fn invoke_ip_addr() -> Result<Vec<Address>, AddressError> {
    let output = Command::new("ip")
        .args(["-j", "addr"])
        .output()
        .map_err(|e| AddressError::Invoke(e.to_string()))?;
    if !output.status.success() {
        return Err(AddressError::Invoke(format!(
            "{}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )));
    }
    parse_ip_addr(&output.stdout)
}

#[derive(Deserialize)]
struct Interface {
    ifname: String,
    #[serde(default)]
    addr_info: Vec<AddrInfo>,
}

#[derive(Deserialize)]
struct AddrInfo {
    local: Option<IpAddr>,
    prefixlen: Option<u8>,
    scope: Option<String>,
}

/// Parses the JSON `ip -j addr` prints; loopback (scope `host`) is left out.
pub fn parse_ip_addr(json: &[u8]) -> Result<Vec<Address>, AddressError> {
    let interfaces: Vec<Interface> = serde_json::from_slice(json)?;
    Ok(interfaces
        .into_iter()
        .flat_map(|interface| {
            let name = interface.ifname;
            interface.addr_info.into_iter().filter_map(move |info| {
                if info.scope.as_deref() == Some("host") {
                    return None;
                }
                Some(Address {
                    interface: name.clone(),
                    address: info.local?,
                    prefix_len: info.prefixlen?,
                })
            })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fqdn_from_hosts() {
        let hosts = "127.0.0.1 localhost\n127.0.1.1 web1.example.org web1 # me\n::1 localhost ip6-localhost\n";
        assert_eq!(
            parse_hosts_fqdn(hosts, "web1").as_deref(),
            Some("web1.example.org")
        );
        assert_eq!(parse_hosts_fqdn(hosts, "db1"), None);
        assert_eq!(parse_hosts_fqdn("", "a.b").as_deref(), Some("a.b"));
        assert_eq!(parse_hostname("\n web1 \n").as_deref(), Some("web1"));
    }
}

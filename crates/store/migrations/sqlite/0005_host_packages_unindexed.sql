-- Hosts are no longer found by package through an index on host_packages:
-- every inventory wrote hundreds of entries scattered over that index, one
-- page each, and made full inventory uploads several times slower (issue 5).
-- A package search looks packages up by name and probes each host's rows
-- by their primary key instead.
-- Keep in lockstep with ../postgres/0005_host_packages_unindexed.sql.
DROP INDEX host_packages_by_package;

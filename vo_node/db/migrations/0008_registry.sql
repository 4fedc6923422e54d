-- The publishing registry's records (issue 6): one row per VOResource record the node has
-- ever published, kept when the resource goes away (OAI-PMH deletedRecord "persistent").
--
-- Records are generated from the node's declarations and data; the store exists so that a
-- record's datestamp moves only when its content changes (harvesters ask "what changed since
-- T?") and so that a removed record is still announced as deleted.

CREATE SCHEMA registry;

CREATE TABLE registry.records (
    -- Byte order ("C"): harvests page by identifier, and byte comparisons are both cheaper
    -- and the same on every server, whatever its locale.
    ivoid          text COLLATE "C" PRIMARY KEY,  -- 'ivo://corot.example.org/tap'
    -- The last version in both OAI-PMH formats, as XML fragments (no declaration) that
    -- declare their own namespaces: responses splice them in without parsing them.
    resource_xml   text NOT NULL,                 -- ivo_vor: the ri:Resource element
    dc_xml         text NOT NULL,                 -- oai_dc: the oai_dc:dc element
    digest         char(64) NOT NULL,             -- sha256 of the content without its dates
    created        timestamptz NOT NULL,          -- first published (whole seconds)
    updated        timestamptz NOT NULL,          -- content last changed, or deleted
    deleted        boolean NOT NULL DEFAULT false,
    CHECK (created <= updated)
);
-- Harvests select by datestamp and page in identifier order.
CREATE INDEX records_updated_idx ON registry.records (updated, ivoid);

-- What the records were last generated from: a digest of the public archive state and of the
-- generators' inputs. The same digest again means there is nothing to regenerate.
CREATE TABLE registry.sync_state (
    singleton      boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    inputs         char(64) NOT NULL,
    synced_at      timestamptz NOT NULL
);

-- The web tier keeps the records current (a release turns data public at midnight with
-- nobody acting, so the next harvest regenerates what it changed).
GRANT USAGE ON SCHEMA registry TO vo_service;
GRANT SELECT, INSERT, UPDATE ON registry.records, registry.sync_state TO vo_service;

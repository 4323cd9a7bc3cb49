-- Admin keys get a scope (root, org_admin, finance), the org they are bound to, and who minted and revoked them; keys made before keep what they could do (root).

ALTER TABLE admin_keys
  ADD COLUMN scope text NOT NULL DEFAULT 'root' CHECK (scope IN ('root', 'org_admin', 'finance')),
  ADD COLUMN org_id text,
  ADD COLUMN created_by text,
  ADD COLUMN revoked_by text,
  ADD CONSTRAINT admin_keys_root_spans_every_org CHECK (scope <> 'root' OR org_id IS NULL),
  ADD CONSTRAINT admin_keys_org_admin_names_its_org CHECK (scope <> 'org_admin' OR org_id IS NOT NULL);

-- New keys say their scope.
ALTER TABLE admin_keys ALTER COLUMN scope DROP DEFAULT;

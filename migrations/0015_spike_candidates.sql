-- Indexes behind the spikes report's two-step read (`queries::spike_volume_rows`).
--
-- Spikes first ask which platforms have rollup rows in the range: one probe per platform on
-- (platform, bucket), where a scan of the range would hash tens of thousands of rows.
CREATE INDEX rollup_hourly_platform_bucket_idx ON rollup_hourly (platform, bucket);

-- Then they read the hours of the few assets that can reach the floors, asset by asset. The primary
-- key leads with the asset too, but then the platform: an asset's range would be picked out of its
-- whole history on every platform.
CREATE INDEX rollup_hourly_asset_bucket_idx ON rollup_hourly (asset_id, bucket);

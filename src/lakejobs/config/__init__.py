"""Typed, validated configuration loaded from per-environment YAML."""

from lakejobs.config.loader import ENV_PREFIX, load_settings, settings_from_mapping
from lakejobs.config.models import (
    CuratedSettings,
    KafkaSecurity,
    LakeSettings,
    MaintenanceSettings,
    MaintenanceTable,
    SecretRef,
    SecretsSettings,
    Settings,
    SparkSettings,
    StreamingSettings,
    TableNames,
    ValidationSettings,
    ValidationTable,
    ZoneSettings,
)

__all__ = [
    "ENV_PREFIX",
    "CuratedSettings",
    "KafkaSecurity",
    "LakeSettings",
    "MaintenanceSettings",
    "MaintenanceTable",
    "SecretRef",
    "SecretsSettings",
    "Settings",
    "SparkSettings",
    "StreamingSettings",
    "TableNames",
    "ValidationSettings",
    "ValidationTable",
    "ZoneSettings",
    "load_settings",
    "settings_from_mapping",
]

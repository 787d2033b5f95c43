"""Station physics, one model per station kind; ``model_for`` picks one for a station."""

from __future__ import annotations

import random

from envmon.stations import Station
from simulators.models.air import AirModel, Region
from simulators.models.base import HourlyModel
from simulators.models.noise import NoiseModel
from simulators.models.water import WaterModel

__all__ = ["AirModel", "HourlyModel", "NoiseModel", "Region", "WaterModel", "model_for"]


def model_for(station: Station, rng: random.Random, region: Region | None = None
              ) -> HourlyModel:
    """The model of ``station``'s kind, parameterised by its class, zone or water body; air
    stations given the same ``region`` share its weather and pollution episodes."""
    if station.kind == "air":
        # Sites differ: a rural county town is a little cleaner than the central city.
        return AirModel(rng, scale=rng.uniform(0.85, 1.15), region=region)
    if station.kind == "water":
        return WaterModel(rng, target_class=station.water_target_class or 3,
                          body=station.water_body or "river")
    return NoiseModel(rng, zone=station.noise_zone or "2")

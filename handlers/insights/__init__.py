"""Insights (社群运营监测): what members do, counted per day, and the charts drawn from it."""

"""Revision scripts, oldest first by `down_revision`. (A package so that installs ship them.)"""

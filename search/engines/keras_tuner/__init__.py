"""The KerasTuner engine: KerasTuner's Hyperband on a study's space, its trials written into the study's store."""

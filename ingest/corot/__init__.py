"""What is specific to CoRoT: file names, run catalogue, file layouts."""

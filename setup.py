"""Install deepreplay: ``pip install -e .[test]`` for development."""

from setuptools import find_packages, setup

setup(
    name="deepreplay",
    version="0.2.0",
    description="Replay how a Keras model trained: feature spaces, decision boundaries, "
    "histograms and layer diagnostics, as pictures and animations.",
    long_description=open("README.md", encoding="utf-8").read(),
    long_description_content_type="text/markdown",
    author="the deepreplay authors (after Daniel Voigt Godoy's DeepReplay 0.1)",
    maintainer="the deepreplay authors",
    url="https://github.com/dvgodoy/deepreplay",
    project_urls={"Original DeepReplay (Keras 2, 2018)": "https://github.com/dvgodoy/deepreplay"},
    license="MIT",
    license_files=["LICENSE"],
    keywords=["keras", "deep learning", "training", "visualization", "animation", "feature space",
              "decision boundary", "hyper-parameters", "teaching"],
    classifiers=[
        "Development Status :: 4 - Beta",
        "Intended Audience :: Education",
        "Intended Audience :: Science/Research",
        "License :: OSI Approved :: MIT License",
        "Operating System :: OS Independent",
        "Programming Language :: Python :: 3",
        "Programming Language :: Python :: 3 :: Only",
        "Programming Language :: Python :: 3.11",
        "Programming Language :: Python :: 3.12",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
        "Topic :: Scientific/Engineering :: Visualization",
    ],
    python_requires=">=3.11",
    packages=find_packages(include=["deepreplay", "deepreplay.*"]),
    install_requires=[
        "keras>=3.5,<4",
        # TensorFlow is the default backend; its CPU build on x86-64 Linux.
        "tensorflow-cpu>=2.16; platform_system == 'Linux' and platform_machine == 'x86_64'",
        "tensorflow>=2.16; platform_system != 'Linux' or platform_machine != 'x86_64'",
        "h5py>=3.10,<3.15",  # TensorFlow 2.21 requires h5py<3.15
        "numpy>=1.26",
        "matplotlib>=3.8",
        "scikit-learn>=1.3",
        "pillow>=10",
        "imageio-ffmpeg>=0.5",  # ships an ffmpeg binary: MP4 without a system ffmpeg
        "tqdm>=4.60",
        # ISA-L's deflate compresses recorded gradients and layer outputs ~5x faster than HDF5's zlib
        # filter, to the same standard stream (deepreplay/storage.py); where it has no wheel, HDF5 does it.
        "isal>=1.6; platform_machine == 'x86_64' or platform_machine == 'AMD64' or platform_machine == 'aarch64' "
        "or platform_machine == 'arm64'",
    ],
    extras_require={
        # benchmarks/*overhead.py compare with keras.callbacks.TensorBoard(histogram_freq=1), which needs it.
        "bench": ["tensorboard>=2.16"],
        "test": ["pytest>=8", "pytest-xdist>=3", "nbclient>=0.10", "nbformat>=5.9", "ipykernel>=6", "ipywidgets>=8"],
        "widgets": ["ipywidgets>=8"],
        # Other Keras 3 backends (choose one with KERAS_BACKEND=jax or torch); see docs/backends.md.
        "jax": ["jax>=0.4.30"],  # CPU jaxlib comes with it
        # Pinned to the version whose CPU build (2.13.0+cpu) is installed on the project's machines:
        # "==2.13.0" accepts that build, so pip keeps it. An unpinned "torch" lets pip fetch a newer
        # default wheel from the package index instead, the multi-GB CUDA build on Linux.
        "torch": ["torch==2.13.0"],
    },
    entry_points={"console_scripts": ["deepreplay=deepreplay.cli:main"]},
)

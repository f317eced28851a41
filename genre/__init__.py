"""genre: music genre classification on the Free Music Archive, benchmarked honestly.

The package is organised along one data flow: a source (`genre.data.fma`, `genre.data.folders`,
`genre.synth`) produces a catalog; `genre.data.prepare` turns it into TFRecord shards and a manifest;
`genre.data.pipeline` is the only reader of those shards. Importing `genre` imports nothing heavy.
"""

__version__ = "0.1.0"

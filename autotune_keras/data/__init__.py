"""From audio to TFRecord shards to tf.data batches."""

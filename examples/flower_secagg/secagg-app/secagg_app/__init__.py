"""A small numpy Flower app: linear regression trained with FedAvg over synthetic partitions."""

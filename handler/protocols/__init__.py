"""One module per wire protocol (native, TF Serving REST, Open Inference v2), each with its own
routes and Pydantic schemas, all calling the same data plane (`handler.model.Model`)."""
